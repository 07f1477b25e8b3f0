"""A customer's pushed rows equal what a feature build writes once the same lines are in the raw data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import fresh, transforms
from features.catalog import CUSTOMER_FEATURES
from features.simulate import simulate

DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    tables = simulate(n_customers=300, days=200, seed=5)
    return tables["transactions"], tables["products"]


def _new_lines(tx: pd.DataFrame, customer: str, products: list[str], returned: str | None) -> pd.DataFrame:
    """An order of `products` two days after the data ends, and a return of one earlier purchase that day."""
    ts = tx["ts"].max().floor("D") + 2 * DAY + pd.Timedelta(hours=10)
    lines = [(f"NEW-{customer}", customer, p, ts, 2, 9.5) for p in products]
    if returned is not None:
        lines.append((f"RET-{customer}", customer, returned, ts + pd.Timedelta(hours=1), -1, 4.0))
    columns = ["order_id", "customer_id", "product_id", "ts", "quantity", "unit_price"]
    return pd.DataFrame(lines, columns=columns).astype({"ts": tx["ts"].dtype})


def _rebuilt(tx: pd.DataFrame, products: pd.DataFrame, customer: str, at: pd.Timestamp) -> pd.DataFrame:
    table = fresh.latest(transforms.customer_features(tx, products), at)
    return table[table["customer_id"] == customer].reset_index(drop=True)


@pytest.mark.parametrize("kind", ["regular", "long_gone", "return_too"])
def test_pushed_rows_equal_rebuilt_rows(data: tuple[pd.DataFrame, pd.DataFrame], kind: str) -> None:
    tx, products = data
    bought = tx[(tx["quantity"] > 0) & tx["customer_id"].notna()]
    last = bought.groupby("customer_id")["ts"].max().sort_values()
    customer = str(last.index[0] if kind == "long_gone" else last.index[-1])
    mine = bought[bought["customer_id"] == customer]
    # a product bought by others before (popularity counts them) and one the customer never bought
    popular = bought["product_id"].value_counts().index
    fresh_products = [str(p) for p in popular if p not in set(mine["product_id"])][:2]
    new = _new_lines(tx, customer, fresh_products, str(mine["product_id"].iloc[0]) if kind == "return_too" else None)
    at = new["ts"].max().floor("D") + DAY
    everything = pd.concat([tx, new], ignore_index=True)

    buyers = fresh.Buyers(tx)  # the raw data as the service loaded it, then the pushed lines
    buyers.add(new)
    history = everything[everything["customer_id"] == customer]
    pushed, pushed_products = fresh.customer_rows(history, products, buyers, at)
    rebuilt = _rebuilt(everything, products, customer, at)

    assert len(pushed) == 1 and pushed["event_timestamp"].iloc[0] == rebuilt["event_timestamp"].iloc[0]
    np.testing.assert_allclose(
        pushed[list(CUSTOMER_FEATURES)].to_numpy(dtype="float64"),
        rebuilt[list(CUSTOMER_FEATURES)].to_numpy(dtype="float64"),
        rtol=1e-6,
        equal_nan=True,
    )
    before = _rebuilt(tx, products, customer, at)
    assert pushed["last_purchase_day"].iloc[0] > before["last_purchase_day"].iloc[0]  # the push changed something
    rebuilt_products = transforms.customer_products(everything).set_index("customer_id")
    assert pushed_products["products_bought"].iloc[0] == rebuilt_products.loc[customer, "products_bought"]
    assert set(fresh_products) <= set(pushed_products["products_bought"].iloc[0])


def test_popularity_counts_only_earlier_days(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    tx, _ = data
    buyers = fresh.Buyers(tx.iloc[:0])
    day = pd.Timestamp("2026-01-10 12:00")
    lines = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C"],
            "product_id": ["P1", "P1", "P1"],
            "ts": [day - 2 * DAY, day - DAY, day],
            "quantity": [1, 1, 1],
        }
    )
    buyers.add(lines)
    assert np.expm1(buyers(lines).to_numpy()).round().tolist() == [0.0, 1.0, 2.0]
    buyers.add(lines.assign(customer_id="A", ts=day - 5 * DAY))  # A's earlier purchase moves A's first day back
    assert np.expm1(buyers(lines).to_numpy()).round().tolist() == [1.0, 1.0, 2.0]
