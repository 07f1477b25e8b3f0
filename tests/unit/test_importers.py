"""Importers and raw table I/O: good files land validated, bad files are located and change nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from features.contract import DataError
from features.derived import ONLINE_STORE, ONLINE_STORE_FALLBACK
from features.importers import import_canonical, import_online_retail
from features.rawio import read_table, read_tables, write_tables
from features.simulate import simulate
from retail.workspace import Workspace

SHARED_DATA = Path(__file__).parents[2].parent / "shared" / "data"
ONLINE_RETAIL = SHARED_DATA / "online_retail" / "online_retail.parquet"

TX_CSV = """order_id,customer_id,product_id,ts,quantity,unit_price,store_id
O1,C1,P1,2024-01-01 10:00:00,2,1.50,S00
O1,C1,P2,2024-01-01 10:00:00,1,3.00,S00
O2,,P1,2024-01-03 09:30:00,1,1.50,S01
O3,C2,007,2024-01-04 12:00:00,-1,1.50,S01
"""
UCI_CSV = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
536366,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2,2010-12-01 08:28:00,2.55,,United Kingdom
C536379,85123A,hanging heart holder,-1,2010-12-01 09:41:00,2.55,17850.0,United Kingdom
536380,71053,WHITE METAL LANTERN,1,2010-12-02 10:00:00,3.39,12583.0,France
"""


def _folder(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "in"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_canonical_folder_with_only_transactions(tmp_path: Path) -> None:
    tables = import_canonical(_folder(tmp_path, **{"transactions.csv": TX_CSV, "notes.txt": "ignored"}))
    assert set(tables) == {"transactions", "stores", "products", "customers"}  # the rest is derived from the lines
    assert tables["stores"].values.tolist() == [["S00", "S00", "store"], ["S01", "S01", "store"]]
    assert tables["products"]["name"].tolist() == ["P1", "P2", "007"]  # named by their ids
    assert tables["customers"]["customer_id"].tolist() == ["C1", "C2"]
    tx = tables["transactions"]
    assert tx["customer_id"].tolist() == ["C1", "C1", None, "C2"]  # empty cell = guest
    assert tx["product_id"].tolist()[-1] == "007"  # leading zeros survive
    assert str(tx["ts"].dtype) == "datetime64[ns]" and tx["quantity"].tolist() == [2, 1, 1, -1]


def test_canonical_folder_mixes_csv_and_parquet(tmp_path: Path) -> None:
    folder = _folder(tmp_path, **{"transactions.csv": TX_CSV})
    pd.DataFrame({"product_id": ["P1", "P2"], "name": ["Tea", "Cup"], "tier": ["good", "best"]}).to_parquet(
        folder / "products.parquet"
    )
    tables = import_canonical(folder)
    assert set(tables) == {"transactions", "products", "stores", "customers"}
    assert tables["products"]["tier"].tolist() == ["good", "best"]  # a given table is kept as it is


MINIMAL_TX = "\n".join(line.rsplit(",", 1)[0] for line in TX_CSV.splitlines()) + "\n"  # no store_id column


def test_minimal_set_is_sold_at_one_online_store(tmp_path: Path) -> None:
    """Only the required columns: every line is an online sale at the one online store, which the stores table has."""
    folder = _folder(tmp_path, **{"transactions.csv": MINIMAL_TX, "products.csv": "product_id,name\nP1,Tea\n"})
    tables = import_canonical(folder)
    tx = tables["transactions"]
    assert tx["store_id"].tolist() == [ONLINE_STORE] * 4 and tx["channel"].tolist() == ["online"] * 4
    assert tables["stores"].values.tolist() == [[ONLINE_STORE, "Online shop", "online"]]
    assert tables["products"].values.tolist() == [["P1", "Tea"]]  # as given: no category invented
    assert "category" not in tables["products"]
    write_tables(tmp_path / "raw", tables)  # and it is a valid data set


def test_store_column_left_empty_counts_as_no_store_column(tmp_path: Path) -> None:
    empty = TX_CSV.replace(",S00", ",").replace(",S01", ",")
    tables = import_canonical(_folder(tmp_path, **{"transactions.csv": empty}))
    assert set(tables["transactions"]["store_id"]) == {ONLINE_STORE}
    assert tables["stores"]["kind"].tolist() == ["online"]


def test_given_stores_gain_the_online_store_only_when_lines_have_no_store(tmp_path: Path) -> None:
    physical = "store_id,name,kind\nS00,High Street,store\n"  # the user's own S00 is a shop
    tables = import_canonical(_folder(tmp_path, **{"transactions.csv": MINIMAL_TX, "stores.csv": physical}))
    online = tables["transactions"]["store_id"].unique().tolist()
    assert online == [ONLINE_STORE_FALLBACK]  # not the user's shop
    assert tables["stores"][["store_id", "kind"]].values.tolist() == [["S00", "store"], [online[0], "online"]]
    web = "store_id,name,kind\nW1,Web shop,online\nS01,Mall,store\n"
    tables = import_canonical(_folder(tmp_path / "web", **{"transactions.csv": MINIMAL_TX, "stores.csv": web}))
    assert set(tables["transactions"]["store_id"]) == {"W1"} and len(tables["stores"]) == 2


@pytest.mark.parametrize(
    ("files", "message", "column", "row"),
    [
        (
            {"transactions.csv": TX_CSV.replace(",ts,", ",when,")},
            "transactions.csv, column ts: missing",
            "ts",
            None,
        ),
        (
            {"transactions.csv": TX_CSV.replace("2024-01-03 09:30:00", "03/45/2024")},
            "transactions.csv line 4, column ts: cannot parse date/time '03/45/2024'",
            "ts",
            3,
        ),
        (
            {"transactions.csv": TX_CSV, "products.csv": "product_id,name\nP1,Tea\nP2,Cup\nP1,Mug\n"},
            "products.csv line 4, column product_id: duplicate key 'P1' (first seen at line 2)",
            "product_id",
            3,
        ),
    ],
    ids=["missing-column", "bad-date", "duplicate-product"],
)
def test_bad_canonical_input_is_located(
    tmp_path: Path, files: dict[str, str], message: str, column: str, row: int | None
) -> None:
    with pytest.raises(DataError) as err:
        import_canonical(_folder(tmp_path, **files))
    assert str(err.value).startswith(message)
    assert (err.value.column, err.value.row) == (column, row)


def test_canonical_refuses_ambiguous_or_missing_transactions(tmp_path: Path) -> None:
    folder = _folder(tmp_path, **{"transactions.csv": TX_CSV})
    pd.read_csv(folder / "transactions.csv").to_parquet(folder / "transactions.parquet")
    with pytest.raises(DataError, match="both transactions.csv and transactions.parquet"):
        import_canonical(folder)
    with pytest.raises(DataError, match="no transactions.csv or transactions.parquet"):
        import_canonical(_folder(tmp_path / "other", **{"products.csv": "product_id,name\nP1,Tea\n"}))


def test_write_read_round_trip_replaces_the_data_set(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path)
    simulated = simulate(n_customers=50, days=60)
    write_tables(ws.raw_dir, simulated)
    back = read_tables(ws)
    for name, df in simulated.items():
        pd.testing.assert_frame_equal(back[name], df)
    write_tables(ws.raw_dir, {"transactions": simulated["transactions"]})
    assert read_table(ws, "reviews") is None  # no simulated reviews mixed into the new data set
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no staging folders left behind
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["raw"]


def test_failed_write_leaves_the_raw_dir_unchanged(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    tables = simulate(n_customers=50, days=60)
    write_tables(raw, tables)
    before = _snapshot(raw)
    bad_products = pd.concat([tables["products"], tables["products"].head(1)], ignore_index=True)
    with pytest.raises(DataError, match="duplicate key"):
        write_tables(raw, {"transactions": tables["transactions"].head(10), "products": bad_products})
    with pytest.raises(DataError, match="transactions table is required"):
        write_tables(raw, {"products": tables["products"]})
    assert _snapshot(raw) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_crash_while_moving_files_restores_the_previous_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tmp_path / "raw"
    tables = simulate(n_customers=50, days=60)
    write_tables(raw, tables)
    before = _snapshot(raw)
    real_replace = os.replace
    calls = {"n": 0}

    def flaky_replace(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        calls["n"] += 1
        if calls["n"] == len(tables) + 2:  # all old tables moved aside, then fail on the second new one
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr("features.rawio.os.replace", flaky_replace)
    with pytest.raises(OSError, match="disk full"):
        write_tables(raw, simulate(n_customers=60, days=60, seed=1))
    assert _snapshot(raw) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_read_tables_needs_transactions(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no transactions.parquet"):
        read_tables(Workspace.at(tmp_path))


def test_online_retail_layout(tmp_path: Path) -> None:
    (tmp_path / "retail.csv").write_text(UCI_CSV)
    tables = import_online_retail(tmp_path / "retail.csv")
    tx = tables["transactions"]
    assert tx["order_id"].tolist()[3] == "C536379" and tx["quantity"].tolist()[3] == -1  # cancellation = return
    assert tx["customer_id"].tolist() == ["17850", "17850", None, "17850", "12583"]  # 17850.0 -> "17850"
    assert set(tx["store_id"]) == {"S00"} and set(tx["channel"]) == {"online"}
    names = tables["products"].set_index("product_id")["name"]
    assert names["85123A"] == "WHITE HANGING HEART T-LIGHT HOLDER"  # the most frequent description
    assert tables["customers"].set_index("customer_id")["region"].to_dict() == {
        "17850": "United Kingdom",
        "12583": "France",
    }
    assert tables["stores"]["kind"].tolist() == ["online"]


def test_online_retail_errors_use_the_files_column_names(tmp_path: Path) -> None:
    (tmp_path / "no_date.csv").write_text(UCI_CSV.replace("InvoiceDate", "Date"))
    with pytest.raises(DataError, match=r"^no_date\.csv, column InvoiceDate: missing required column"):
        import_online_retail(tmp_path / "no_date.csv")
    (tmp_path / "bad_date.csv").write_text(UCI_CSV.replace("2010-12-02 10:00:00", "soon"))
    with pytest.raises(DataError, match=r"^bad_date\.csv line 6, column InvoiceDate: cannot parse .* 'soon'"):
        import_online_retail(tmp_path / "bad_date.csv")


def test_online_retail_parquet_with_numeric_customer_ids(tmp_path: Path) -> None:
    frame = pd.read_csv(pd.io.common.StringIO(UCI_CSV), dtype={"InvoiceNo": str, "StockCode": str})
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    frame.to_parquet(tmp_path / "retail.parquet")  # CustomerID is float64 with NaN here
    tx = import_online_retail(tmp_path / "retail.parquet")["transactions"]
    assert tx["customer_id"].tolist() == ["17850", "17850", None, "17850", "12583"]


@pytest.mark.skipif(not ONLINE_RETAIL.exists(), reason=f"real data not available at {ONLINE_RETAIL}")
def test_real_online_retail_file() -> None:
    tables = import_online_retail(ONLINE_RETAIL)
    tx = tables["transactions"]
    assert len(tx) == 541_909
    assert tx["customer_id"].isna().sum() == 135_080 and tx["customer_id"].nunique() == 4_372
    assert tx["order_id"].str.startswith("C").sum() == 9_288 and len(tables["products"]) == 4_070
    assert round(float((tx["quantity"] * tx["unit_price"]).sum()), 2) == 9_747_747.93


def test_csv_with_byte_order_mark_and_padded_headers(tmp_path: Path) -> None:
    header, rest = TX_CSV.split("\n", 1)
    folder = _folder(tmp_path)
    (folder / "transactions.csv").write_text("\ufeff" + header.replace(",", ", ") + "\n" + rest, encoding="utf-8")
    assert len(import_canonical(folder)["transactions"]) == 4
