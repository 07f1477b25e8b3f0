"""What the /recommend endpoint calls: answers with product facts, from a loaded recommender.

The endpoint knows products only by id and features only by name; indices, tables and feature order stay here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from features.catalog import RECOMMENDER_SERVICE
from training.family import FamilyKey
from training.recommend.model import MODES, Mode, Recommender, UnknownProducts

__all__ = ["KEY", "MODES", "Answer", "Mode", "RecommenderAdapter", "UnknownProducts"]


@dataclass
class Answer:
    items: list[dict[str, object]] = field(default_factory=list)  # product_id, name, category, price, score, reason
    customer_known: bool = False
    note: str = ""


class RecommenderAdapter:
    """A loaded recommender's public face: which products it ranks and a recommendation per request."""

    feature_service = RECOMMENDER_SERVICE

    def __init__(self, recommender: Recommender, version: str) -> None:
        self.recommender, self.version = recommender, version
        self.feature_names = recommender.customer_feature_names  # the online features a request reads, by name
        table = recommender.products.frame  # row i is product index i
        facts = zip(table["name"].astype(str), table["category"].astype(str), table["price"].astype(float), strict=True)
        self._facts = dict(zip(recommender.product_ids, facts, strict=True))
        self._index = {p: i for i, p in enumerate(recommender.product_ids)}

    @property
    def product_ids(self) -> tuple[str, ...]:
        """The products this version ranks, in the order availability masks follow."""
        return self.recommender.product_ids

    def knows(self, customer_id: str | None) -> bool:
        return self.recommender.customer_index(customer_id) is not None

    def recommend(
        self,
        customer_id: str | None,
        cart: Sequence[str],
        mode: Mode,
        k: int,
        available: np.ndarray | None,
        features: Mapping[str, float | None] | None = None,
        bought: Sequence[str] = (),
    ) -> Answer:
        """Top-k allowed products with their facts and reasons; raises `UnknownProducts` for a bad cart.

        `bought`: products the customer bought since the model was trained (the online store's list); cross-sell
        leaves them out like the purchases the model saw.
        """
        if mode == "cross_sell" and bought:
            available = self._without(available, bought)
        found = self.recommender.recommend(customer_id, cart, mode, k, available, features)
        items = []
        for item in found.items:
            name, category, price = self._facts[item.product_id]
            items.append(
                {
                    "product_id": item.product_id,
                    "name": name,
                    "category": category,
                    "price": price,
                    "score": item.score,
                    "reason": item.reason,
                }
            )
        return Answer(items, found.customer_known, found.note)

    def _without(self, available: np.ndarray | None, products: Sequence[str]) -> np.ndarray:
        mask = np.ones(len(self._index), dtype=bool) if available is None else np.array(available, dtype=bool)
        mask[[self._index[p] for p in products if p in self._index]] = False
        return mask


KEY: FamilyKey[RecommenderAdapter] = FamilyKey("recommender")  # `Runtime.adapter(KEY)` is a `RecommenderAdapter`
