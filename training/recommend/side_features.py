"""Ranker features beyond who-bought-what: product facts, category affinity and the customer's Feast features.

Tabulated once per cutoff (`SideFeatures.at`), like the purchase features, so training rows and served rows are
built the same way. At serving time the customer's row can be replaced by the one just read from the online
store (`customer_row`).

Optional extra product columns (`SideFeatures.product_lookup`, e.g. review sentiment from a stamped feature table,
`stamped_product_lookup`) are read as of each cutoff too. Off by default: `benchmarks/sentiment_recommender.py`
measured product sentiment and found no gain, so production rankers do not read it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.catalog import RECOMMENDER_CUSTOMER_FEATURES, RECOMMENDER_SERVICE
from retail.workspace import Workspace
from training.recommend.columns import FEAST_PREFIX, ITEM_SIDE, Matrix, side_names
from training.recommend.dataset import Interactions
from training.recommend.pairs import dense_row
from training.recommend.products import build_product_table

CustomerLookup = Callable[[pd.Timestamp, Sequence[str]], np.ndarray]  # (cutoff, ids) -> rows x features, in order
ProductLookup = Callable[[pd.Timestamp, Sequence[str]], np.ndarray]  # (cutoff, product ids) -> rows x features
PRODUCT_PREFIX = "product_"  # an extra product feature `x` is the ranker's column `product_x`
TIER = ITEM_SIDE.index("item_tier")


def feast_customer_lookup(ws: Workspace) -> CustomerLookup:
    """Point-in-time customer features from the workspace's Feast repo (the `recommender_v1` service)."""
    # deliberately lazy: Feast is heavy, and a fitted model (the service, a batch) never reads it
    from feast.errors import FeatureServiceNotFoundException

    from features import store

    try:
        store.feature_store(ws).get_feature_service(RECOMMENDER_SERVICE)
    except FeatureServiceNotFoundException:
        raise ValueError(
            f"the Feast repo in {ws.root} lacks {RECOMMENDER_SERVICE}: run `retail features build` again"
        ) from None

    def lookup(cutoff: pd.Timestamp, ids: Sequence[str]) -> np.ndarray:
        entity_df = pd.DataFrame({"customer_id": list(ids), "event_timestamp": pd.Timestamp(cutoff)})
        joined = store.historical_features(ws, entity_df, RECOMMENDER_SERVICE)
        joined = joined.drop_duplicates("customer_id").set_index("customer_id").reindex(list(ids))
        return joined[list(RECOMMENDER_CUSTOMER_FEATURES)].to_numpy(dtype=np.float64)

    return lookup


def stamped_product_lookup(table: pd.DataFrame, names: Sequence[str]) -> ProductLookup:
    """Point-in-time product features from a table stamped by `event_timestamp` (like `product_sentiment`): each
    product's newest row at or before the cutoff, as Feast's join reads it; NaN for a product with none yet."""
    stamped = table.assign(product_id=table["product_id"].astype(str)).sort_values("event_timestamp", kind="stable")
    columns = list(names)

    def lookup(cutoff: pd.Timestamp, ids: Sequence[str]) -> np.ndarray:
        known = stamped[stamped["event_timestamp"] <= pd.Timestamp(cutoff)]
        latest = known.drop_duplicates("product_id", keep="last").set_index("product_id")
        return latest.reindex([str(i) for i in ids])[columns].to_numpy(dtype=np.float64)

    return lookup


@dataclass
class SideTables:
    """Side facts as of one cutoff, indexed like that cutoff's interactions."""

    item: np.ndarray  # products x ITEM_SIDE
    category: np.ndarray  # category code per product
    shares: sp.csr_matrix  # customers x categories: share of their bought products in each
    customer_tier: np.ndarray  # mean tier of what each customer bought
    customer: np.ndarray  # customers x Feast features, in `customer_names` order (NaN when unknown)
    # the Feast features `customer` holds; a model pickled before they were recorded held these
    customer_names: tuple[str, ...] = RECOMMENDER_CUSTOMER_FEATURES
    product: np.ndarray | None = None  # products x extra product features, in `product_names` order
    product_names: tuple[str, ...] = ()  # none unless `SideFeatures.product_names` asked for some

    @property
    def names(self) -> tuple[str, ...]:
        """The columns of `frame` (see `columns.side_names`), then the extra product columns, if any."""
        return side_names(self.customer_names) + tuple(PRODUCT_PREFIX + n for n in self.product_names)

    @property
    def width(self) -> int:
        return len(self.names)

    def customer_row(self, features: Mapping[str, float | None]) -> np.ndarray:
        """One customer's Feast features by name as a row of `customer`: a missing or None value is NaN.

        A name the model does not read is refused (a typo would otherwise silently become NaN).
        """
        unknown = set(features) - set(self.customer_names)
        if unknown:
            raise ValueError(
                f"unknown customer features: {', '.join(sorted(map(str, unknown)))} "
                f"(this model reads {', '.join(self.customer_names)})"
            )
        values = [features.get(n) for n in self.customer_names]
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    def frame(
        self,
        rows: np.ndarray,
        items: np.ndarray,
        customers: Sequence[int | None],
        carts: Sequence[Sequence[int]],
        customer_rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """Side columns for candidate (row, item) pairs of a batch; `customer_rows` overrides the Feast part."""
        known = np.array([c is not None for c in customers])
        index = np.array([c if c is not None else 0 for c in customers], dtype=np.int64)
        n_categories = self.shares.shape[1]
        if len(customers) == 1:  # a request: its row read directly (the same values, no sparse slicing)
            shares = dense_row(self.shares, customers[0], n_categories)[None, :] * known[:, None]
        else:
            shares = self.shares[index].toarray() * known[:, None]
        cart_shares = np.zeros((len(customers), n_categories))
        cart_tier = np.full(len(customers), np.nan)
        for r, cart in enumerate(carts):
            if len(cart):
                cart_shares[r] = np.bincount(self.category[list(cart)], minlength=n_categories) / len(cart)
                cart_tier[r] = self.item[list(cart), TIER].mean()
        own_tier = np.where(known, self.customer_tier[index], cart_tier)
        customer = self.customer[index].copy() if customer_rows is None else np.asarray(customer_rows, np.float64)
        customer[~known] = np.nan
        category = self.category[items]
        out = Matrix(self.names, len(rows))
        out.put(ITEM_SIDE, self.item[items])
        out["category_affinity"] = shares[rows, category]
        out["cart_category_share"] = cart_shares[rows, category]
        out["tier_vs_customer"] = self.item[items, TIER] - own_tier[rows]
        out.put([FEAST_PREFIX + n for n in self.customer_names], customer[rows])
        if self.product_names and self.product is not None:
            out.put([PRODUCT_PREFIX + n for n in self.product_names], self.product[items])
        return out.done()


@dataclass
class SideFeatures:
    """What the side tables are made from: the product and review tables, a customer feature lookup and, when
    `product_names` is set, a lookup of that many extra product features."""

    products: pd.DataFrame | None = None
    reviews: pd.DataFrame | None = None
    customer_lookup: CustomerLookup | None = None

    customer_names: tuple[str, ...] = RECOMMENDER_CUSTOMER_FEATURES  # what `customer_lookup` returns, in order
    product_lookup: ProductLookup | None = None
    product_names: tuple[str, ...] = ()  # what `product_lookup` returns, in order; none by default

    @property
    def names(self) -> list[str]:
        return [*side_names(self.customer_names), *(PRODUCT_PREFIX + n for n in self.product_names)]

    def at(self, interactions: Interactions, tx: pd.DataFrame, cutoff: pd.Timestamp) -> SideTables:
        """Tables as of `cutoff` from data before it (reviews included)."""
        reviews = None if self.reviews is None else self.reviews[self.reviews["ts"] < cutoff]
        table = build_product_table(interactions.product_ids, tx[tx["ts"] < cutoff], self.products, reviews)
        frame = table.frame
        counts = np.zeros(len(frame))
        if reviews is not None and len(reviews):
            counts = frame["product_id"].map(reviews.groupby(reviews["product_id"].astype(str)).size()).fillna(0)
        columns = Matrix(ITEM_SIDE, len(frame), np.float64)
        columns["item_tier"] = table.tier
        columns["item_rating"] = frame["rating"].to_numpy(np.float64)
        columns["item_reviews"] = np.asarray(counts, np.float64)
        item = columns.done()
        category = table.category_code
        bought = sp.csr_matrix((interactions.matrix > 0).astype(np.float64))
        one_hot = sp.csr_matrix(
            (np.ones(len(category)), (np.arange(len(category)), category)), shape=(len(category), category.max() + 1)
        )
        per_customer = np.maximum(np.asarray(bought.sum(axis=1)).ravel(), 1.0)
        shares = sp.csr_matrix(sp.diags(1.0 / per_customer) @ (bought @ one_hot))
        customer_tier = (bought @ item[:, TIER]) / per_customer
        if self.customer_lookup is not None and interactions.n_customers:
            customer = self.customer_lookup(cutoff, interactions.customer_ids)
        else:
            customer = np.full((interactions.n_customers, len(self.customer_names)), np.nan)
        product = None
        if self.product_names:
            product = np.full((len(frame), len(self.product_names)), np.nan)
            if self.product_lookup is not None and len(frame):
                product = self.product_lookup(cutoff, interactions.product_ids)
        customer_names, product_names = tuple(self.customer_names), tuple(self.product_names)
        return SideTables(item, category, shares, customer_tier, customer, customer_names, product, product_names)
