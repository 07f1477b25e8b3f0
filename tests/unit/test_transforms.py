"""Feature tables: exact windowed values at any cutoff, compared with a brute-force recount."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.catalog import CUSTOMER_FEATURES, PRODUCT_FEATURES, STORE_FEATURES
from features.derived import ONLINE_STORE
from features.sales import daily_sales, product_attributes
from features.transforms import customer_features, product_features, store_features

EPOCH = pd.Timestamp("1970-01-01")


def _tx(n: int = 600, seed: int = 1) -> pd.DataFrame:
    """Orders of one to three lines, each order with one customer and one timestamp."""
    rng = np.random.default_rng(seed)
    order = np.sort(rng.integers(0, n // 2, n))
    n_orders = order.max() + 1
    ts = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 400 * 24 * 60, n_orders), unit="min")
    customers = rng.integers(0, 12, n_orders)
    return pd.DataFrame(
        {
            "order_id": [f"O{i}" for i in order],
            "customer_id": [f"C{c}" for c in customers[order]],
            "product_id": [f"P{p}" for p in rng.integers(0, 20, n)],
            "ts": ts[order],
            "quantity": rng.choice([1, 2, 3, 12, -1], n, p=[0.45, 0.3, 0.1, 0.05, 0.1]),
            "unit_price": rng.uniform(1, 20, n).round(2),
            "store_id": rng.choice(["S00", "S01"], n),
        }
    )


def as_of(table: pd.DataFrame, key: str, cutoff: pd.Timestamp) -> pd.DataFrame:
    """What a point-in-time join returns: the newest row at or before the cutoff per entity."""
    rows = table[table["event_timestamp"] <= cutoff].sort_values("event_timestamp")
    return rows.groupby(key).tail(1).set_index(key)


def brute_force(tx: pd.DataFrame, customer: str, cutoff: pd.Timestamp) -> dict[str, float]:
    mine = tx[(tx["customer_id"] == customer) & (tx["ts"] < cutoff)]
    bought = mine[mine["quantity"] > 0]
    out: dict[str, float] = {}
    for w in (30, 90, 180, 365):
        win = bought[bought["ts"] >= cutoff - pd.Timedelta(days=w)]
        out[f"orders_{w}d"] = win["order_id"].nunique()
        out[f"spend_{w}d"] = float((win["quantity"] * win["unit_price"]).sum())
        out[f"units_{w}d"] = float(win["quantity"].sum())
        out[f"active_days_{w}d"] = win["ts"].dt.floor("D").nunique()
    out["orders_total"] = bought["order_id"].nunique()
    out["distinct_products"] = bought["product_id"].nunique()
    out["last_purchase_day"] = (bought["ts"].max().floor("D") - EPOCH).days
    out["first_purchase_day"] = (bought["ts"].min().floor("D") - EPOCH).days
    returned = -mine.loc[mine["quantity"] < 0, "quantity"].sum()
    out["returns_share"] = returned / bought["quantity"].sum()
    days = np.sort(bought["ts"].dt.floor("D").unique())
    gaps = np.diff(days).astype("timedelta64[D]").astype(float)
    out["gap_mean_days"] = gaps.mean() if len(gaps) else np.nan
    out["last_gap_days"] = gaps[-1] if len(gaps) else np.nan
    out["active_months"] = (bought["ts"].dt.year * 12 + bought["ts"].dt.month).nunique()
    out["bulk_share"] = float((bought["quantity"] >= 12).mean())
    orders = bought.drop_duplicates("order_id")["ts"]
    out["order_hour_mean"] = float((orders.dt.hour + orders.dt.minute / 60).mean())
    # each line's product: how many customers had bought it on an earlier day (anyone's purchases before the cutoff)
    everyone = tx[(tx["quantity"] > 0) & tx["customer_id"].notna() & (tx["ts"] < cutoff)]
    earlier = [
        everyone.loc[
            (everyone["product_id"] == line.product_id) & (everyone["ts"].dt.floor("D") < line.ts.floor("D")),
            "customer_id",
        ].nunique()
        for line in bought.itertuples()
    ]
    out["product_popularity"] = float(np.log1p(earlier).mean())
    return out


def test_columns_match_the_catalog() -> None:
    tx = _tx()
    assert list(customer_features(tx).columns) == ["customer_id", "event_timestamp", *CUSTOMER_FEATURES]
    assert list(product_features(tx).columns) == ["product_id", "event_timestamp", *PRODUCT_FEATURES]
    assert list(store_features(tx).columns) == ["store_id", "event_timestamp", *STORE_FEATURES]


@pytest.mark.parametrize("cutoff", ["2025-02-01", "2025-05-17", "2025-09-30", "2026-02-03"])
def test_point_in_time_values_equal_a_recount_before_the_cutoff(cutoff: str) -> None:
    tx = _tx()
    at = pd.Timestamp(cutoff)
    table = as_of(customer_features(tx), "customer_id", at)
    checked = 0
    for customer in tx.loc[(tx["ts"] < at) & (tx["quantity"] > 0), "customer_id"].unique():
        expected = brute_force(tx, customer, at)
        got = table.loc[customer]
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, rel=1e-4, nan_ok=True), (customer, name)
        checked += 1
    assert checked > 0


def test_events_after_the_cutoff_change_nothing_before_it() -> None:
    tx = _tx()
    at = pd.Timestamp("2025-06-10")
    full = as_of(customer_features(tx), "customer_id", at)
    truncated = as_of(customer_features(tx[tx["ts"] < at]), "customer_id", at)
    pd.testing.assert_frame_equal(full.drop(columns="event_timestamp"), truncated.drop(columns="event_timestamp"))


def test_rows_grow_with_events_not_days() -> None:
    tx = _tx(n=300)
    table = customer_features(tx)
    event_days = tx.assign(d=tx["ts"].dt.floor("D")).groupby(["customer_id", "d"]).ngroups
    assert len(table) <= event_days * 5  # each event day and the four days it leaves a window


def test_guests_and_categories() -> None:
    tx = _tx()
    tx.loc[::7, "customer_id"] = None
    products = pd.DataFrame({"product_id": [f"P{i}" for i in range(20)], "category": [f"K{i % 3}" for i in range(20)]})
    table = customer_features(tx, products)
    assert table["customer_id"].notna().all()
    assert table["distinct_categories"].max() <= 3
    assert customer_features(tx)["distinct_categories"].isna().all()


def test_transactions_without_stores_are_the_online_stores() -> None:
    """Only the required columns: per-store tables hold the one online store, equal to the product totals."""
    tx = _tx().drop(columns="store_id")
    stores = store_features(tx)
    assert set(stores["store_id"]) == {ONLINE_STORE}
    totals = product_features(tx).set_index(["product_id", "event_timestamp"])
    assert len(stores) and stores["orders_30d"].max() >= totals["orders_30d"].max()
    per_store = daily_sales(tx, None, by_store=True)
    per_product = daily_sales(tx, None, by_store=False)
    assert set(per_store["store_id"]) == {ONLINE_STORE}
    pd.testing.assert_frame_equal(per_store.drop(columns="store_id"), per_product)
    attributes = product_attributes(None, tx)
    assert set(attributes["category"]) == {"unknown"} and attributes["list_price"].isna().all()
