"""One customer's feature rows recomputed from their transactions, for a push between feature builds.

The same transforms as the build run on the customer's own lines, so a pushed row equals the row the next build
writes for the same data. Only product popularity needs other customers' purchases: `Buyers` keeps, per
product, the days each customer first bought it, taken from all transactions and extended by every push.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import transforms
from features.catalog import CUSTOMER_FEATURES

DAY = pd.Timedelta(days=1)


class Buyers:
    """Per product, the sorted first-purchase days of its buyers: earlier buyers of a line's product, counted."""

    def __init__(self, tx: pd.DataFrame) -> None:
        first = _first_days(tx)
        self._days = {str(p): np.sort(g.to_numpy()) for p, g in first.groupby(level=0)}
        self._by_product = {str(p): g.droplevel(0).to_dict() for p, g in first.groupby(level=0)}

    def add(self, tx: pd.DataFrame) -> None:
        """Count the purchases in `tx` too (a customer's earliest purchase of a product is what counts)."""
        for (product, customer), day in _first_days(tx).items():
            mine = self._by_product.setdefault(str(product), {})
            old = mine.get(str(customer))
            if old is None or day < old:
                mine[str(customer)] = day
                self._days[str(product)] = np.sort(np.array(list(mine.values()), dtype="datetime64[ns]"))

    def __call__(self, tx: pd.DataFrame) -> pd.Series:
        """Per line of `tx`: log1p of the customers who first bought its product on an earlier day."""
        days = tx["ts"].dt.floor("D").to_numpy(dtype="datetime64[ns]")
        counts = [
            np.searchsorted(self._days.get(str(p), np.empty(0, "datetime64[ns]")), d, side="left")
            for p, d in zip(tx["product_id"], days, strict=True)
        ]
        bought = (tx["quantity"] > 0) & tx["customer_id"].notna()
        return pd.Series(np.log1p(np.asarray(counts, dtype="float64")), index=tx.index).where(bought)


def _first_days(tx: pd.DataFrame) -> pd.Series:
    """(product_id, customer_id) -> the day of the customer's first purchase of the product."""
    bought = tx[(tx["quantity"] > 0) & tx["customer_id"].notna()]
    frame = pd.DataFrame(
        {"product_id": bought["product_id"].astype(str), "customer_id": bought["customer_id"].astype(str)}
    )
    day = pd.to_datetime(bought["ts"]).dt.floor("D")  # typed even when `tx` is empty
    return frame.assign(day=day).groupby(["product_id", "customer_id"])["day"].min()


def latest(table: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
    """Each entity's newest row stamped at or before `at` (what materializing up to `at` loads online)."""
    table = table[table["event_timestamp"] <= at]
    return table.sort_values("event_timestamp").groupby(table.columns[0], sort=True).tail(1).reset_index(drop=True)


def customer_rows(
    tx: pd.DataFrame, products: pd.DataFrame | None, buyers: Buyers, at: pd.Timestamp | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The customer_features and customer_products rows of the customers in `tx` (all their lines) as of `at`.

    `at` defaults to the day after the newest line, which is what `retail features build` materializes once
    those lines are in the raw data.
    """
    at = tx["ts"].max().floor("D") + DAY if at is None else at
    features = latest(transforms.customer_features(tx, products, popularity=buyers), at)
    bought = transforms.customer_products(tx)
    return features[["customer_id", "event_timestamp", *CUSTOMER_FEATURES]], bought
