"""Bring your own data: the minimal canonical set (order lines and product names, nothing optional) goes the whole
way through the CLI, import -> features build -> train, for every family its data allows.

The set is generated here from the simulator with every optional column and table dropped, a few hundred
customers and products over a year: enough for each family's evaluation window with the light options the
shared workspace uses (tests/conftest.py). Sentiment needs reviews, which the set lacks: it must say so.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from clirun import fails, ok

from features.derived import ONLINE_STORE
from features.simulate import simulate
from retail.settings import Settings
from retail.workspace import Workspace

pytestmark = pytest.mark.integration

REQUIRED = ["order_id", "customer_id", "product_id", "ts", "quantity", "unit_price"]
# each family's `retail train` with its quick settings (`Family.quick`) as CLI options
TRAIN = {
    "churn": ["--horizon-days", "60", "--cutoffs", "8"],
    "recommender": ["--horizon-days", "30"],
    "demand": ["--horizon-days", "28", "--series", "40", "--origins", "2"],
}


def write_minimal_set(folder: Path, customers: int = 300, products: int = 60, days: int = 365) -> pd.DataFrame:
    """transactions.csv with the required columns only and products.csv with id and name; returns the lines."""
    tables = simulate(n_customers=customers, days=days, n_products=products, seed=11)
    folder.mkdir(parents=True)
    tx = tables["transactions"][REQUIRED]
    tx.to_csv(folder / "transactions.csv", index=False)
    tables["products"][["product_id", "name"]].to_csv(folder / "products.csv", index=False)
    return tx


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The minimal set imported with `retail data import canonical` and its features built (done once)."""
    base = tmp_path_factory.mktemp("minimal")
    write_minimal_set(base / "export")
    root = base / "ws"
    out = ok("data", "import", "canonical", base / "export", "--workspace", root)
    assert "stores: 1 rows" in out  # derived: the one online store
    ok("features", "build", "--workspace", root)
    return Workspace.at(root)


def test_import_derives_one_online_store_and_the_other_tables(minimal: Workspace) -> None:
    tx = minimal.read_raw("transactions")
    assert tx is not None and set(tx["store_id"]) == {ONLINE_STORE} and set(tx["channel"]) == {"online"}
    stores = minimal.read_raw("stores")
    assert stores is not None and stores[["store_id", "kind"]].values.tolist() == [[ONLINE_STORE, "online"]]
    customers, products = minimal.read_raw("customers"), minimal.read_raw("products")
    assert customers is not None and set(customers["customer_id"]) == set(tx["customer_id"].dropna())
    assert products is not None and list(products.columns) == ["product_id", "name"]  # nothing invented


def test_features_cover_the_online_store_and_unknown_categories(minimal: Workspace) -> None:
    per_product = pd.read_parquet(minimal.features_dir / "product_daily_sales.parquet")
    per_store = pd.read_parquet(minimal.features_dir / "product_store_daily_sales.parquet")
    assert len(per_store) == len(per_product) and set(per_store["store_id"]) == {ONLINE_STORE}
    stores = pd.read_parquet(minimal.features_dir / "store_features.parquet")
    assert set(stores["store_id"]) == {ONLINE_STORE}
    attributes = pd.read_parquet(minimal.features_dir / "product_attributes.parquet")
    assert set(attributes["category"]) == {"unknown"} and set(attributes["tier"]) == {"unknown"}
    customers = pd.read_parquet(minimal.features_dir / "customer_features.parquet")
    assert len(customers) and customers["distinct_categories"].isna().all()  # unknown, not zero


@pytest.mark.parametrize("name", list(TRAIN))
def test_every_family_the_data_allows_trains(minimal: Workspace, name: str) -> None:
    out = ok("train", name, "--workspace", minimal.root, *TRAIN[name])
    assert f"{name} version 1 (@" in out, out
    if name == "demand":  # the registered model's backtest table: the method each group of series got
        assert "backtest WAPE per group of series" in out and "chosen" in out, out
        assert "artifact choice/backtest_refit.txt of MLflow run" in out, out


def test_sentiment_without_reviews_says_what_it_needs(minimal: Workspace) -> None:
    error = fails("train", "sentiment", "--workspace", minimal.root)
    assert "needs a reviews table" in error
    assert "reviews.csv" in error and "retail data import canonical" in error and "--reviews FILE" in error


def test_db_init_gives_the_order_api_the_online_store(minimal: Workspace) -> None:
    from retail import db
    from serving.commerce.seed import seed

    engine = db.engine(minimal, Settings(workspace=minimal.root))
    added = seed(engine, minimal)
    assert added["stores"] == 1
    with engine.connect() as c:
        rows = c.exec_driver_sql("SELECT store_id, kind FROM stores").fetchall()
    assert [tuple(r) for r in rows] == [(ONLINE_STORE, "online")]


def test_guest_lines_only_build_and_say_what_training_needs(tmp_path: Path) -> None:
    """Lines without any customer id (a till export): features build, per-customer models say what they need."""
    folder = tmp_path / "export"
    write_minimal_set(folder, customers=40, products=10, days=90)
    tx = pd.read_csv(folder / "transactions.csv").assign(customer_id="")
    tx.to_csv(folder / "transactions.csv", index=False)
    root = tmp_path / "ws"
    ok("data", "import", "canonical", folder, "--workspace", root)
    out = ok("features", "build", "--workspace", root)  # empty customer tables are not materialized
    assert "customer_features: 0 feature rows" in out and "product_daily_sales: 0" not in out
    for name in ("churn", "recommender"):
        error = fails("train", name, "--workspace", root, "--horizon-days", "30")
        assert "needs customer ids" in error and "customer_id column of transactions.csv" in error
