"""Product specifications: the simulator writes them (tier-driven, seeded), the contract checks them, importers take
them when a folder has them and do without when it does not."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from features.contract import DataError, validate
from features.importers import import_canonical
from features.rawio import read_tables, write_tables
from features.simulate import simulate
from retail.workspace import Workspace

ARGS = {"n_customers": 150, "days": 120, "seed": 5, "n_products": 120}
TX_CSV = "order_id,customer_id,product_id,ts,quantity,unit_price\nO1,C1,P1,2024-01-01 10:00:00,2,1.50\n"


@pytest.fixture(scope="module")
def world() -> dict[str, pd.DataFrame]:
    return simulate(**ARGS)


def _months(value: str) -> int:
    """'6 months' -> 6, '2 years' -> 24, 'none' -> 0."""
    found = re.fullmatch(r"(\d+) (month|year)s?", value)
    return 0 if found is None else int(found[1]) * (12 if found[2] == "year" else 1)


def test_every_product_has_a_type_first_and_its_categorys_specifications(world: dict[str, pd.DataFrame]) -> None:
    products, specs = world["products"], world["product_attributes"]
    pd.testing.assert_frame_equal(validate("product_attributes", specs, "specs"), specs)
    assert set(specs["product_id"]) == set(products["product_id"])
    first = specs.groupby("product_id", sort=False).head(1).set_index("product_id")
    assert (first["name"] == "type").all()
    named = products.set_index("product_id")["name"]
    assert all(kind in named[p] for p, kind in first["value"].items())  # "Acme kettle Premium" is a kettle
    per_category = specs.merge(products[["product_id", "category"]]).groupby("category")["name"].nunique()
    assert (per_category >= 3).all() and len(per_category) == products["category"].nunique()
    assert products["description"].notna().all()
    row = products.iloc[0]
    assert row["brand"] in row["description"] and first.loc[row["product_id"], "value"] in row["description"].lower()


def test_better_tiers_have_longer_warranties_and_every_upgrade_adds_something(world: dict[str, pd.DataFrame]) -> None:
    products, specs = world["products"], world["product_attributes"]
    warranty = specs[specs["name"] == "warranty"].merge(products[["product_id", "category", "tier"]])
    months = warranty.assign(months=warranty["value"].map(_months)).groupby(["category", "tier"])["months"].min()
    by_tier = months.unstack()
    assert len(by_tier) >= 3
    assert (by_tier["good"] < by_tier["better"]).all() and (by_tier["better"] < by_tier["best"]).all()
    wide = specs.pivot(index="product_id", columns="name", values="value").join(
        products.set_index("product_id")[["category", "tier"]]
    )
    for (category, kind), group in wide.groupby(["category", "type"]):
        good, best = group[group["tier"] == "good"], group[group["tier"] == "best"]
        for _, g in good.iterrows():
            for _, b in best.iterrows():
                differs = [n for n in group.columns if n not in ("category", "tier") and g[n] != b[n]]
                assert differs, (category, kind)


def test_same_seed_same_specifications_other_seed_other_ones(world: dict[str, pd.DataFrame]) -> None:
    again = simulate(**ARGS)
    pd.testing.assert_frame_equal(again["product_attributes"], world["product_attributes"])
    pd.testing.assert_frame_equal(again["products"], world["products"])
    other = simulate(**(ARGS | {"seed": 6}))
    assert not other["product_attributes"].equals(world["product_attributes"])


def test_the_contract_refuses_a_specification_given_twice_or_without_a_value() -> None:
    twice = pd.DataFrame({"product_id": ["P1", "P1"], "name": ["colour", "colour"], "value": ["red", "blue"]})
    with pytest.raises(DataError, match=r"row 2, column product_id, name: duplicate key \('P1', 'colour'\)"):
        validate("product_attributes", twice, "product_attributes.csv")
    blank = pd.DataFrame({"product_id": ["P1"], "name": ["colour"], "value": [None]})
    with pytest.raises(DataError, match="row 1, column value: missing value"):
        validate("product_attributes", blank, "product_attributes.csv")


def test_a_folder_imports_with_or_without_specifications(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "transactions.csv").write_text(TX_CSV)
    assert "product_attributes" not in import_canonical(bare)
    full = tmp_path / "full"
    full.mkdir()
    (full / "transactions.csv").write_text(TX_CSV)
    (full / "products.csv").write_text("product_id,name,description\nP1,Tea,Loose leaf green tea\n")
    (full / "product_attributes.csv").write_text("product_id,name,value\nP1,weight,100\nP1,origin,Japan\n")
    tables = import_canonical(full)
    assert tables["products"]["description"].tolist() == ["Loose leaf green tea"]
    assert tables["product_attributes"].to_dict("list") == {
        "product_id": ["P1", "P1"],
        "name": ["weight", "origin"],
        "value": ["100", "Japan"],  # numbers are text: a value is shown as written
    }
    ws = Workspace.at(tmp_path / "ws")
    write_tables(ws.raw_dir, tables)
    pd.testing.assert_frame_equal(read_tables(ws)["product_attributes"], tables["product_attributes"])
