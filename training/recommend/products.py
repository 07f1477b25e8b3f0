"""The product table the recommender carries: names, categories, prices, price tiers and ratings.

Tiers come from the products table (`tier`: good / better / best) when it has them, else from price terciles
within each category. A catalogue without categories is one category, `all`, so up-sell then means "a pricier
tier of anything".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

TIERS = ("good", "better", "best")
NO_CATEGORY = "all"


@dataclass(frozen=True)
class ProductTable:
    """One row per product id, aligned with the product indices of the model's interactions."""

    frame: pd.DataFrame  # product_id (index order = product index), name, category, price, tier, rating

    @property
    def product_ids(self) -> list[str]:
        return self.frame["product_id"].tolist()

    def name(self, index: int) -> str:
        return str(self.frame["name"].iat[index])

    def category(self, index: int) -> str:
        return str(self.frame["category"].iat[index])

    @property
    def tier(self) -> np.ndarray:
        return self.frame["tier"].to_numpy(dtype=np.int64)

    @property
    def category_code(self) -> np.ndarray:
        return pd.Categorical(self.frame["category"]).codes.astype(np.int64)

    @property
    def has_categories(self) -> bool:
        return bool((self.frame["category"] != NO_CATEGORY).any())


def _tier_codes(products: pd.DataFrame) -> pd.Series:
    """0/1/2 per product: the given tier when the table has one, else the price tercile in its category."""
    if "tier" in products.columns and products["tier"].notna().all() and products["tier"].isin(TIERS).all():
        return products["tier"].map({t: i for i, t in enumerate(TIERS)}).astype("int64")
    ranks = products.groupby("category")["price"].rank(method="average", pct=True)
    return pd.Series(np.minimum((ranks.to_numpy() * 3 - 1e-9).astype(np.int64), 2), index=products.index)


def build_product_table(
    product_ids: Sequence[str],
    transactions: pd.DataFrame,
    products: pd.DataFrame | None = None,
    reviews: pd.DataFrame | None = None,
) -> ProductTable:
    """Facts per product in `product_ids` order; prices fall back from list price to the mean unit price paid."""
    frame = pd.DataFrame({"product_id": [str(p) for p in product_ids]})
    if products is not None and len(products):
        known = products.drop_duplicates("product_id").assign(product_id=lambda d: d["product_id"].astype(str))
        keep = [c for c in ("product_id", "name", "category", "list_price", "tier") if c in known.columns]
        frame = frame.merge(known[keep], on="product_id", how="left")
    for column in ("name", "category", "list_price", "tier"):
        if column not in frame.columns:
            frame[column] = np.nan
    frame["name"] = frame["name"].fillna(frame["product_id"]).astype(str)
    frame["category"] = frame["category"].fillna(NO_CATEGORY).astype(str)
    paid = transactions[(transactions["quantity"] > 0)] if "unit_price" in transactions.columns else None
    if paid is not None and len(paid):
        mean_paid = paid.groupby(paid["product_id"].astype(str))["unit_price"].mean()
        frame["price"] = frame["list_price"].fillna(frame["product_id"].map(mean_paid))
    else:
        frame["price"] = frame["list_price"]
    frame["price"] = frame["price"].fillna(frame["price"].median()).fillna(0.0).astype("float64")
    frame["tier"] = _tier_codes(frame)
    frame["rating"] = np.nan
    if reviews is not None and len(reviews):
        mean_rating = reviews.groupby(reviews["product_id"].astype(str))["rating"].mean()
        frame["rating"] = frame["product_id"].map(mean_rating)
    columns = ["product_id", "name", "category", "price", "tier", "rating"]
    return ProductTable(frame[columns].reset_index(drop=True))
