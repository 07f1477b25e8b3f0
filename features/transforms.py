"""Raw tables -> feature tables for Feast.

Rows are written only where a feature value changes: on each day with events (stamped at the end of that day,
when the values become known) and on the day each of those events leaves a time window. A point-in-time join
at any cutoff therefore returns exact windowed values, and the tables grow with the number of events, not
with entities x days.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from features.catalog import (
    CUSTOMER_FEATURES,
    CUSTOMER_WINDOWS,
    ENTITY_WINDOWS,
    PRODUCT_FEATURES,
    STORE_FEATURES,
)
from features.derived import with_store

log = logging.getLogger(__name__)
DAY = pd.Timedelta(days=1)
EPOCH = pd.Timestamp("1970-01-01")
SUMS = ("orders", "active_days", "units", "returned", "spend")
BULK_QUANTITY = 12  # a line of a dozen or more: a reseller's restock rather than a gift
# per line of `tx`: log1p of how many customers had bought its product on earlier days (see `_line_popularity`)
Popularity = Callable[[pd.DataFrame], pd.Series]


def _daily(tx: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per key and day: orders, units bought, units returned and spend."""
    tx = tx[tx[key].notna()]
    bought = tx["quantity"] > 0
    frame = pd.DataFrame(
        {
            key: tx[key].astype(str),
            "day": tx["ts"].dt.floor("D"),
            "units": tx["quantity"].where(bought, 0).astype("float64"),
            "returned": (-tx["quantity"]).where(~bought, 0).astype("float64"),
            "spend": (tx["quantity"] * tx["unit_price"]).where(bought, 0).astype("float64"),
            "order": tx["order_id"].where(bought),
            "line_price": tx["unit_price"].where(bought).astype("float64"),
        }
    )
    daily = frame.groupby([key, "day"], sort=True).agg(
        units=("units", "sum"),
        returned=("returned", "sum"),
        spend=("spend", "sum"),
        orders=("order", "nunique"),
        lines=("line_price", "count"),
        price_sum=("line_price", "sum"),
    )
    daily["active_days"] = (daily["orders"] > 0).astype("float64")
    return daily.reset_index()


def _as_of(points: pd.DataFrame, daily: pd.DataFrame, key: str, at: str, cols: list[str]) -> pd.DataFrame:
    """For each point, `cols` of the last daily row strictly before the point's `at` time."""
    left = points[[key, at]].reset_index().sort_values(at, kind="stable")
    right = daily[[key, "day", *cols]].sort_values("day", kind="stable")
    merged = pd.merge_asof(left, right, left_on=at, right_on="day", by=key, allow_exact_matches=False)
    return merged.set_index("index").reindex(points.index)[cols]


def _windowed(daily: pd.DataFrame, key: str, windows: tuple[int, ...], extra: list[str]) -> pd.DataFrame:
    """Windowed sums of SUMS plus cumulative `extra` columns at every change point."""
    daily = daily.sort_values([key, "day"]).reset_index(drop=True)
    cum = daily[[key, "day"]].copy()
    cum[list(SUMS)] = daily.groupby(key)[list(SUMS)].cumsum()
    cum[extra] = daily[extra]
    base = daily[[key, "day"]]
    points = pd.concat([pd.DataFrame({key: base[key], "ts": base["day"] + DAY * (1 + w)}) for w in (0, *windows)])
    points = points.drop_duplicates().sort_values([key, "ts"]).reset_index(drop=True)
    now = _as_of(points, cum, key, "ts", [*SUMS, *extra]).fillna({c: 0.0 for c in SUMS})
    out = points.copy()
    for w in windows:
        points[f"start_{w}"] = points["ts"] - DAY * w
        before = _as_of(points, cum, key, f"start_{w}", list(SUMS)).fillna(0.0)
        for col in SUMS:
            out[f"{col}_{w}d"] = now[col].to_numpy() - before[col].to_numpy()
    for col in [*SUMS, *extra]:
        out[f"{col}_total" if col in SUMS else col] = now[col].to_numpy()
    return out


def _trend(recent: pd.Series, previous: pd.Series) -> pd.Series:
    total = recent + previous
    return ((recent - previous) / total.where(total > 0)).fillna(0.0)


def _finish(out: pd.DataFrame, key: str, names: tuple[str, ...]) -> pd.DataFrame:
    table = out[[key, "ts", *names]].rename(columns={"ts": "event_timestamp"})
    table[list(names)] = table[list(names)].astype("float32")
    return table.reset_index(drop=True)


def _purchase_history(daily: pd.DataFrame) -> pd.DataFrame:
    """First/last purchase day and inter-purchase gap statistics, carried forward over return-only days."""
    days = (daily["day"] - EPOCH) / DAY
    bought = daily["orders"] > 0
    pos = daily.loc[bought, ["customer_id"]].assign(d=days[bought])
    grouped = pos.groupby("customer_id")["d"]
    gap = grouped.diff()
    pos["n_gaps"] = gap.notna().groupby(pos["customer_id"]).cumsum()
    pos["gap_sum"] = gap.fillna(0).groupby(pos["customer_id"]).cumsum()
    pos["gap_sq"] = (gap.fillna(0) ** 2).groupby(pos["customer_id"]).cumsum()
    pos["last_gap_days"] = gap
    pos["first_purchase_day"] = grouped.transform("min")
    pos["last_purchase_day"] = pos["d"]
    hist = pos.drop(columns=["d", "customer_id"]).reindex(daily.index)
    hist = hist.groupby(daily["customer_id"]).ffill()
    n = hist.pop("n_gaps")
    mean = hist["gap_sum"] / n.where(n > 0)
    var = hist.pop("gap_sq") / n.where(n > 0) - mean**2
    hist["gap_mean_days"] = mean
    hist["gap_std_days"] = np.sqrt(var.clip(lower=0))
    hist.pop("gap_sum")
    # first purchase is known only from its own day on
    hist["first_purchase_day"] = hist["first_purchase_day"].where(hist["last_purchase_day"].notna())
    return hist


def _distinct_cumulative(tx: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per customer and day, how many distinct values of `column` were bought for the first time."""
    bought = tx[(tx["quantity"] > 0) & tx["customer_id"].notna() & tx[column].notna()]
    first = bought.assign(day=bought["ts"].dt.floor("D")).groupby(["customer_id", column])["day"].min()
    return first.reset_index().groupby(["customer_id", "day"]).size().rename(f"new_{column}").reset_index()


def _customer_day_sums(tx: pd.DataFrame, popularity: Popularity) -> pd.DataFrame:
    """Per customer and purchase day: summed popularity and bulk flags of the lines bought, summed order hours."""
    bought = tx[(tx["quantity"] > 0) & tx["customer_id"].notna()]
    lines = pd.DataFrame(
        {
            "customer_id": bought["customer_id"].astype(str),
            "day": bought["ts"].dt.floor("D"),
            "popularity": popularity(tx)[bought.index],
            "bulk": (bought["quantity"] >= BULK_QUANTITY).astype("float64"),
            "line_price": bought["unit_price"],
        }
    )
    # the same lines `_daily` counts as `lines` (a known unit price), so the mean divides like with like
    lines = lines[lines["line_price"].notna()]
    orders = bought.drop_duplicates("order_id")
    hours = pd.DataFrame(
        {
            "customer_id": orders["customer_id"].astype(str),
            "day": orders["ts"].dt.floor("D"),
            "hour": orders["ts"].dt.hour + orders["ts"].dt.minute / 60,
        }
    )
    per_day = lines.groupby(["customer_id", "day"])[["popularity", "bulk"]].sum().add_suffix("_sum")
    hour = hours.groupby(["customer_id", "day"])["hour"].sum().rename("hour_sum")
    return pd.concat([per_day, hour], axis=1).reset_index()


def _line_popularity(tx: pd.DataFrame) -> pd.Series:
    """Per bought line of a known customer: log1p of how many customers had bought its product on earlier days.

    Popularity is taken when the line was bought, so a customer's mean over their lines changes only on their own
    purchase days (a change point) and never uses anything from after them.
    """
    bought = tx[(tx["quantity"] > 0) & tx["customer_id"].notna()]
    lines = pd.DataFrame({"product_id": bought["product_id"], "day": bought["ts"].dt.floor("D")})
    first = pd.concat([lines, bought["customer_id"]], axis=1).groupby(["product_id", "customer_id"])["day"].min()
    buyers = first.reset_index().groupby(["product_id", "day"]).size().groupby(level=0).cumsum()
    left = lines.reset_index().sort_values("day", kind="stable")
    right = buyers.rename("buyers").reset_index().sort_values("day", kind="stable")
    merged = pd.merge_asof(left, right, on="day", by="product_id", allow_exact_matches=False)
    return np.log1p(merged.set_index("index")["buyers"].fillna(0.0)).reindex(tx.index)


def customer_features(
    tx: pd.DataFrame, products: pd.DataFrame | None = None, popularity: Popularity = _line_popularity
) -> pd.DataFrame:
    """Customer feature table for churn and recommendations (see features.catalog.CUSTOMER_FEATURES).

    `popularity` counts earlier buyers per line; by default from `tx` itself, so it must then hold every customer
    (a push for one customer passes counts taken from all transactions, `features.fresh.Buyers`).
    """
    if products is not None and "category" in products:
        tx = tx.merge(products[["product_id", "category"]], on="product_id", how="left")
    else:
        tx = tx.assign(category=np.nan)
    tx = tx.assign(month=tx["ts"].dt.year * 12 + tx["ts"].dt.month)
    daily = _daily(tx, "customer_id").sort_values(["customer_id", "day"]).reset_index(drop=True)
    daily = daily.merge(_customer_day_sums(tx, popularity), on=["customer_id", "day"], how="left")
    for column in ("product_id", "category", "month"):
        new = _distinct_cumulative(tx, column)
        daily = daily.merge(new, on=["customer_id", "day"], how="left")
        daily[f"new_{column}"] = daily[f"new_{column}"].fillna(0).groupby(daily["customer_id"]).cumsum()
    history = _purchase_history(daily)
    daily = pd.concat([daily, history], axis=1)
    sums = ["lines", "price_sum", "popularity_sum", "bulk_sum", "hour_sum"]
    cums = [f"{c}_cum" for c in sums]
    daily[cums] = daily[sums].fillna(0.0).groupby(daily["customer_id"]).cumsum()
    extra = ["new_product_id", "new_category", "new_month", *cums, *history.columns]
    out = _windowed(daily, "customer_id", CUSTOMER_WINDOWS, extra)
    names = {"new_product_id": "distinct_products", "new_category": "distinct_categories", "new_month": "active_months"}
    out = out.rename(columns=names)
    if products is None or "category" not in products:
        out["distinct_categories"] = np.nan
    out["orders_trend"] = _trend(out["orders_90d"], out["orders_180d"] - out["orders_90d"])
    out["spend_trend"] = _trend(out["spend_90d"], out["spend_180d"] - out["spend_90d"])
    out["avg_order_value"] = out["spend_total"] / out["orders_total"].where(out["orders_total"] > 0)
    out["avg_line_price"] = out["price_sum_cum"] / out["lines_cum"].where(out["lines_cum"] > 0)
    out["lines_per_order"] = out["lines_cum"] / out["orders_total"].where(out["orders_total"] > 0)
    out["product_popularity"] = out["popularity_sum_cum"] / out["lines_cum"].where(out["lines_cum"] > 0)
    out["bulk_share"] = out["bulk_sum_cum"] / out["lines_cum"].where(out["lines_cum"] > 0)
    out["order_hour_mean"] = out["hour_sum_cum"] / out["orders_total"].where(out["orders_total"] > 0)
    out["returns_share"] = out["returned_total"] / out["units_total"].where(out["units_total"] > 0)
    return _finish(out, "customer_id", CUSTOMER_FEATURES)


def product_features(tx: pd.DataFrame) -> pd.DataFrame:
    """Product popularity, price and return-rate features."""
    out = _windowed(_daily(tx, "product_id"), "product_id", ENTITY_WINDOWS, [])
    for w in ENTITY_WINDOWS:
        out[f"revenue_{w}d"] = out[f"spend_{w}d"]
    out["avg_unit_price"] = out["spend_total"] / out["units_total"].where(out["units_total"] > 0)
    out["return_rate"] = out["returned_total"] / out["units_total"].where(out["units_total"] > 0)
    return _finish(out, "product_id", PRODUCT_FEATURES)


def store_features(tx: pd.DataFrame) -> pd.DataFrame:
    """Store traffic and revenue features; lines without a store count for none.

    Transactions with no stores at all are online sales at the one online store (`features.derived`).
    """
    tx = with_store(tx)
    out = _windowed(_daily(tx, "store_id"), "store_id", ENTITY_WINDOWS, [])
    for w in ENTITY_WINDOWS:
        out[f"revenue_{w}d"] = out[f"spend_{w}d"]
    return _finish(out, "store_id", STORE_FEATURES)


def customer_products(tx: pd.DataFrame) -> pd.DataFrame:
    """Per customer, every product bought so far (sorted), stamped the day after their newest purchase."""
    bought = tx[(tx["quantity"] > 0) & tx["customer_id"].notna()]
    if bought.empty:
        return pd.DataFrame(
            {
                "customer_id": pd.Series(dtype=str),
                "event_timestamp": pd.Series(dtype="datetime64[ns]"),
                "products_bought": pd.Series(dtype=object),
            }
        )
    grouped = bought.assign(customer_id=bought["customer_id"].astype(str)).groupby("customer_id", sort=True)
    return pd.DataFrame(
        {
            "event_timestamp": grouped["ts"].max().dt.floor("D") + DAY,
            "products_bought": grouped["product_id"].agg(lambda p: sorted(set(map(str, p)))),
        }
    ).reset_index()
