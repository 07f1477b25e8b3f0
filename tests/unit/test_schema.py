"""The raw data contract: coercion to the agreed dtypes and located error messages."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

from features.contract import TABLES, DataError, validate


def _tx(**overrides: object) -> pd.DataFrame:
    data: dict[str, object] = {
        "order_id": [1, 2, 2],
        "customer_id": [17850.0, None, 13047.0],
        "product_id": ["P1", "P2", "P2"],
        "ts": ["2024-01-01 10:00", "2024-01-02 11:00", "2024-01-02 11:00"],
        "quantity": ["2", "-1", "1"],
        "unit_price": ["1.5", "2", "2"],
    }
    data.update(overrides)
    return pd.DataFrame(data)


def test_every_table_declares_required_columns_and_keys() -> None:
    assert set(TABLES) == {
        "transactions",
        "products",
        "product_attributes",
        "customers",
        "stores",
        "reviews",
        "inventory",
    }
    assert TABLES["product_attributes"].key == ("product_id", "name")
    assert TABLES["transactions"].key == ()
    assert TABLES["inventory"].key == ("store_id", "product_id", "ts")
    assert [c.name for c in TABLES["products"].required] == ["product_id", "name"]


def test_coerces_ids_numbers_and_times() -> None:
    out = validate("transactions", _tx(extra=[1, 2, 3]), "t.csv")
    assert list(out.columns) == ["order_id", "customer_id", "product_id", "ts", "quantity", "unit_price"]
    assert out["order_id"].tolist() == ["1", "2", "2"]
    assert out["customer_id"].tolist() == ["17850", None, "13047"]  # a float id reads as a person wrote it
    assert str(out["ts"].dtype) == "datetime64[ns]"
    assert out["quantity"].dtype == "int64" and out["unit_price"].dtype == "float64"
    assert validate("transactions", out, "again").equals(out)  # idempotent


def test_timezones_become_naive_utc() -> None:
    out = validate(
        "transactions",
        _tx(ts=["2024-01-01T12:00:00+02:00", "2024-01-01T12:00:00Z", "2024-01-01 12:00"]),
        "t.csv",
    )
    assert out["ts"].tolist() == [
        pd.Timestamp("2024-01-01 10:00"),
        pd.Timestamp("2024-01-01 12:00"),
        pd.Timestamp("2024-01-01 12:00"),
    ]
    aware = _tx(ts=pd.date_range("2024-06-01", periods=3, freq="h", tz="Europe/Berlin"))
    assert validate("transactions", aware, "t")["ts"].iloc[0] == pd.Timestamp("2024-05-31 22:00")


def test_missing_column_names_file_and_column() -> None:
    with pytest.raises(DataError, match=r"^t\.csv, column ts: missing required column") as err:
        validate("transactions", _tx().drop(columns="ts"), "t.csv")
    assert (err.value.file, err.value.column, err.value.row) == ("t.csv", "ts", None)


def test_bad_date_names_first_bad_row_and_value() -> None:
    with pytest.raises(DataError) as err:
        validate("transactions", _tx(ts=["2024-01-01", "yesterday", "nope"]), "t.parquet")
    assert str(err.value) == "t.parquet row 2, column ts: cannot parse date/time 'yesterday'"
    assert (err.value.row, err.value.column, err.value.value) == (2, "ts", "yesterday")


def test_csv_messages_count_lines_like_an_editor() -> None:
    with pytest.raises(DataError, match=r"t\.csv line 4, column quantity: not a number: 'x'") as err:
        validate("transactions", _tx(quantity=["1", "2", "x"]), "t.csv", line_offset=1)
    assert (err.value.row, err.value.line) == (3, 4)


@pytest.mark.parametrize(
    ("column", "values", "problem"),
    [
        ("quantity", ["1", "1.5", "2"], "not a whole number: '1.5'"),
        ("product_id", ["P1", None, "P2"], "missing value"),
        ("unit_price", ["1", "2", "lots"], "not a number: 'lots'"),
    ],
)
def test_bad_values_are_located(column: str, values: list[object], problem: str) -> None:
    with pytest.raises(DataError, match=problem) as err:
        validate("transactions", _tx(**{column: values}), "t.csv")
    assert err.value.column == column and err.value.row is not None


def test_duplicate_key_names_the_second_occurrence() -> None:
    products = pd.DataFrame({"product_id": ["P1", "P12", "P3", "P12"], "name": ["a", "b", "c", "d"]})
    with pytest.raises(DataError) as err:
        validate("products", products, "products.csv")
    assert str(err.value) == "products.csv row 4, column product_id: duplicate key 'P12' (first seen at row 2)"
    assert err.value.value == "P12"


def test_compound_key_and_repeated_order_lines() -> None:
    inv = pd.DataFrame(
        {
            "store_id": ["S1", "S1", "S1"],
            "product_id": ["P1", "P2", "P1"],
            "on_hand": [1, 2, 3],
            "ts": ["2024-01-01"] * 3,
        }
    )
    with pytest.raises(DataError, match="column store_id, product_id, ts: duplicate key"):
        validate("inventory", inv, "inventory.csv")
    assert len(validate("transactions", _tx(), "t")) == 3  # the same line twice is a legitimate order


def test_rating_and_store_kind_are_checked() -> None:
    reviews = pd.DataFrame(
        {
            "review_id": ["R1", "R2"],
            "customer_id": ["C1", "C1"],
            "product_id": ["P1", "P2"],
            "ts": ["2024-01-01", "2024-01-02"],
            "rating": [5, 6],
            "text": ["great", None],
        }
    )
    with pytest.raises(DataError, match=r"row 2, column rating: 6 is outside 1\.\.5"):
        validate("reviews", reviews, "reviews.csv")
    stores = pd.DataFrame({"store_id": ["S0"], "name": ["Shop"], "kind": ["warehouse"]})
    with pytest.raises(DataError, match="'warehouse' is not one of online, store"):
        validate("stores", stores, "stores.csv")


def test_error_survives_pickling() -> None:
    err = DataError("duplicate key 'P1'", file="p.csv", row=3, column="product_id", value="P1", line=4)
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.line == 4


def test_unknown_table_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown table"):
        validate("orders", _tx(), "t")


def test_doubled_column_is_refused() -> None:
    doubled = pd.concat([_tx(), _tx()[["ts"]]], axis=1)
    with pytest.raises(DataError, match="column ts: column appears more than once"):
        validate("transactions", doubled, "t.csv")
