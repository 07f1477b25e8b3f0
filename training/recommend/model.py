"""The recommender family's model: the reranker, the product table and popularity, and the answer to a request.

The reranker orders candidates; `ranking` applies the model's per-mode policy (model, blend with a baseline, or
the baseline first: see `guard`), decides which products are allowed (mode, cart, stock), fills short lists with
popular allowed products, and says why each product is there: for a request here (a block of one row), for many
customers in `batch`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.recommend.guard import ModePolicy, policy_params
from training.recommend.products import ProductTable
from training.recommend.ranking import MODES, Lookups, Mode, check_mode, rank
from training.recommend.rerank import Reranker

__all__ = ["MODES", "Item", "Mode", "Recommendation", "Recommender", "UnknownProducts"]

log = logging.getLogger(__name__)
POPULAR_HALF_LIFE_DAYS = 30.0


class UnknownProducts(ValueError):
    """Cart products the catalogue does not know; `product_ids` names them."""

    def __init__(self, product_ids: list[str]) -> None:
        self.product_ids = product_ids
        super().__init__(f"unknown products in the cart: {', '.join(product_ids)}")


@dataclass(frozen=True)
class Item:
    product_id: str
    score: float
    reason: str


@dataclass(frozen=True)
class Recommendation:
    items: list[Item]
    customer_known: bool
    note: str = ""


@dataclass
class Recommender:
    """Reranker + product table + popularity: everything a request needs, held in memory."""

    reranker: Reranker
    products: ProductTable
    catalogue: frozenset[str]  # every product id the shop knows, bought or not
    popularity: np.ndarray  # recency-weighted orders per product index

    @classmethod
    def build(cls, reranker: Reranker, products: ProductTable, catalogue: Sequence[str] = ()) -> Recommender:
        x = reranker.interactions
        if products.product_ids != list(x.product_ids):
            raise ValueError("the product table must follow the reranker's product order")
        popularity = np.asarray(x.customer_items(POPULAR_HALF_LIFE_DAYS).sum(axis=0), dtype=np.float64).ravel()
        return cls(reranker, products, frozenset(catalogue) | frozenset(x.product_ids), popularity)

    @property
    def as_of(self) -> pd.Timestamp:
        return self.reranker.context.as_of

    @property
    def product_ids(self) -> tuple[str, ...]:
        return self.reranker.interactions.product_ids

    @property
    def policy(self) -> dict[str, ModePolicy]:
        """Per judged mode (`all`, `cross_sell`): model, blend or fallback, and the inner figures behind it.

        Empty for a model fitted without an inner validation (or pickled before there was one): the model answers.
        """
        return dict(getattr(self.reranker, "policy", None) or {})

    def policy_params(self) -> dict[str, str | float | int]:
        """The policy as flat `policy_<mode>_<field>` params for MLflow."""
        return policy_params(self.policy)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The columns the rankers were trained with, in order (see `columns.check_features`)."""
        recorded = getattr(self.reranker, "feature_names", ())
        return tuple(recorded) or tuple(self.reranker.models[(False, False)].booster_.feature_name())

    @property
    def customer_feature_names(self) -> tuple[str, ...]:
        """The Feast customer features a request may pass (`customer_features`); none without side features."""
        side = self.reranker.side
        return () if side is None else tuple(side.customer_names)

    def customer_index(self, customer_id: str | None) -> int | None:
        if customer_id is None:
            return None
        return self.reranker.interactions.customer_index.get(str(customer_id))

    def cart_indices(self, cart: Sequence[str]) -> list[int]:
        """Indices of the cart's products; raises `UnknownProducts` naming any the catalogue lacks.

        Known products nobody has bought yet carry no signal and are left out of the scoring.
        """
        unknown = [str(p) for p in cart if str(p) not in self.catalogue]
        if unknown:
            raise UnknownProducts(sorted(set(unknown)))
        index = self.reranker.interactions.product_index
        return sorted({index[str(p)] for p in cart if str(p) in index})

    def recommend(
        self,
        customer_id: str | None,
        cart: Sequence[str] = (),
        mode: Mode = "all",
        k: int = 10,
        available: np.ndarray | None = None,
        customer_features: Mapping[str, float | None] | None = None,
    ) -> Recommendation:
        """Up to k products for a customer (or a guest) and cart in one mode, only `available` ones if given.

        `customer_features` ({Feast feature name: value}, names from `customer_feature_names`; a missing or None
        one is NaN) replaces the values held since training. A name the model does not read is a ValueError.
        """
        check_mode(mode)
        cart_idx = self.cart_indices(cart)
        customer = self.customer_index(customer_id)
        rows = self._customer_rows(customer_features)
        ranked = rank(self.reranker, self.lookups, [customer], [cart_idx], mode, k, available, customer_rows=rows)
        items = [Item(self.product_ids[i], round(s, 6), r) for i, s, r in ranked.row(0)]
        note = _note(customer_id, customer, cart_idx)
        if not items and mode == "up_sell":
            note = "nothing to upgrade: no higher tier in stock in the categories of the cart or purchase history"
        return Recommendation(items, customer is not None, note)

    @property
    def n_pool(self) -> int:
        return self.reranker.interactions.n_products

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("_lookups", None)  # rebuilt on first use: derived, never worth pickling
        return state

    @property
    def lookups(self) -> Lookups:
        """The product table and popularity as arrays, built on first use (and never pickled)."""
        found = self.__dict__.get("_lookups")
        if found is None:
            found = self.__dict__["_lookups"] = Lookups.of(self.products, self.popularity)
        return found

    def _customer_rows(self, features: Mapping[str, float | None] | None) -> np.ndarray | None:
        if features is None:
            return None
        if not isinstance(features, Mapping):
            raise TypeError("customer_features is a mapping {Feast feature name: value}, not a positional array")
        side = self.reranker.side
        if side is None:  # a model without side features reads none
            if features:
                raise ValueError(f"unknown customer features: {', '.join(sorted(map(str, features)))} (none read)")
            return None
        return side.customer_row(features).reshape(1, -1)


def _note(customer_id: str | None, customer: int | None, cart: list[int]) -> str:
    if customer_id is not None and customer is None:
        source = "the cart and popularity" if cart else "popularity"
        return f"unknown customer {customer_id}: recommendations from {source}"
    if customer is None:
        return "guest: recommendations from the cart" if cart else "no customer or cart: popular products"
    return ""
