"""Daily sales tables for demand forecasting: per product, and per product x store where the data has stores.

Demand is what was bought: positive lines only, guests included (demand does not depend on knowing the buyer).
Rows exist only for days with sales; a forecasting frame fills the other days with zero. Each row is stamped at
the end of its day, when its figures become known, so a point-in-time read never sees a day before it closes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.derived import UNKNOWN, with_store

DAY = pd.Timedelta(days=1)
SALES_FIELDS: tuple[str, ...] = ("units", "revenue", "avg_price", "price_ratio")
ATTRIBUTE_FIELDS: tuple[str, ...] = ("category", "tier", "list_price")
USUAL_PRICE_DAYS = 90  # the usual price is the median selling price over this many days before the sale
MIN_RATIO, MAX_RATIO = 0.2, 3.0


def _usual_price(daily: pd.DataFrame, products: pd.DataFrame | None) -> pd.Series:
    """List price where the catalogue has one, else the product's median daily price over the prior 90 days."""
    by_product = daily.groupby(["product_id", "ds"], sort=True)["avg_price"].median().reset_index()
    rolled = (
        by_product.set_index("ds")
        .groupby("product_id")["avg_price"]
        .transform(lambda s: s.shift(1).rolling(f"{USUAL_PRICE_DAYS}D", min_periods=1).median())
    )
    by_product["usual"] = rolled.to_numpy()
    usual = daily[["product_id", "ds"]].merge(by_product[["product_id", "ds", "usual"]], how="left")["usual"]
    if products is not None and "list_price" in products:
        listed = daily["product_id"].map(products.set_index("product_id")["list_price"])
        usual = listed.where(listed > 0, usual.to_numpy())
    return pd.Series(usual.to_numpy(), index=daily.index).fillna(daily["avg_price"])


def daily_sales(tx: pd.DataFrame, products: pd.DataFrame | None, by_store: bool) -> pd.DataFrame:
    """units, revenue, avg_price and price_ratio (against the usual price) per product[, store] and day."""
    keys = ["product_id", "store_id"] if by_store else ["product_id"]
    bought = tx[tx["quantity"] > 0]
    if by_store:  # no stores in the data: every line is an online sale at the one online store
        bought = with_store(bought)
        bought = bought[bought["store_id"].notna()]
    frame = pd.DataFrame(
        {
            **{k: bought[k].astype(str) for k in keys},
            "ds": bought["ts"].dt.floor("D"),
            "units": bought["quantity"].astype("float64"),
            "revenue": (bought["quantity"] * bought["unit_price"]).astype("float64"),
        }
    )
    daily = frame.groupby([*keys, "ds"], sort=True)[["units", "revenue"]].sum().reset_index()
    daily["avg_price"] = daily["revenue"] / daily["units"]
    ratio = daily["avg_price"] / _usual_price(daily, products)
    daily["price_ratio"] = ratio.replace([np.inf, -np.inf], np.nan).fillna(1.0).clip(MIN_RATIO, MAX_RATIO)
    daily["event_timestamp"] = daily["ds"] + DAY
    daily[list(SALES_FIELDS)] = daily[list(SALES_FIELDS)].astype("float32")
    return daily[[*keys, "ds", "event_timestamp", *SALES_FIELDS]]


def product_attributes(products: pd.DataFrame | None, tx: pd.DataFrame) -> pd.DataFrame:
    """category, tier and list price per product (unknown where the catalogue has none), known from the start."""
    ids = pd.Index(tx["product_id"].astype(str).unique(), name="product_id")
    table = pd.DataFrame(index=ids)
    catalogue = products.set_index("product_id") if products is not None else pd.DataFrame(index=ids)
    for column in ("category", "tier"):
        values = catalogue[column] if column in catalogue else pd.Series(dtype=object)
        table[column] = values.reindex(ids).fillna(UNKNOWN).astype(str)
    listed = catalogue["list_price"] if "list_price" in catalogue else pd.Series(dtype="float64")
    table["list_price"] = listed.reindex(ids).astype("float32")
    table["event_timestamp"] = tx["ts"].min().floor("D")
    return table.reset_index()
