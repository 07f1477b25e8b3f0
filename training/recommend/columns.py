"""The ranker's features by name: one place says which columns exist and in which order.

A LightGBM booster reads columns by position, so the names here are the contract between the code that builds a
feature matrix (`pairs`, `side_features`) and a fitted, possibly pickled, ranker. Builders write columns
by name into a `Matrix`, which refuses unknown names and unfilled columns. A fitted reranker records the names it
was trained with; `check_features` refuses a model whose names differ from what this code computes. Change what a
feature means and you must change its name, so an older model is refused rather than fed the new meaning.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from features import catalog

if TYPE_CHECKING:  # for annotations only: the model module imports nothing from here at run time
    from training.recommend.model import Recommender

PER_SOURCE = ("score", "rank")  # every candidate source adds `<source>_score` and `<source>_rank`
CUSTOMER_FEATURES = (
    "customer_orders",
    "customer_products",
    "customer_recency_days",
    "customer_tenure_share",
    "customer_orders_quarter",
    "customer_interval_days",
    "customer_repeat_share",
    "customer_basket_size",
)
ITEM_FEATURES = (
    "item_orders",
    "item_orders_recent",
    "item_buyers",
    "item_age_share",
    "item_trend",
    "item_price",
    "item_orders_week",
    "item_orders_quarter",
    "item_repeat_rate",
    "item_growth",
)
PAIR_FEATURES = (
    "times_bought",
    "bought_share",
    "days_since_bought",
    "co_history",
    "co_recent",
    "next_history",
    "next_recent",
    "price_ratio",
    "first_bought_share",
    "due_ratio",
)
ITEM_SIDE = ("item_tier", "item_rating", "item_reviews")
PAIR_SIDE = ("category_affinity", "cart_category_share", "tier_vs_customer")
FEAST_PREFIX = "customer_"  # a Feast customer feature `x` is the ranker's column `customer_x`
RETRAIN = "retail train recommender"


def source_names(sources: Iterable[str]) -> tuple[str, ...]:
    return tuple(f"{name}_{kind}" for name in sources for kind in PER_SOURCE)


def purchase_names(sources: Iterable[str]) -> tuple[str, ...]:
    """The columns built from purchases alone (`pairs.candidate_frame`), in order."""
    return (*source_names(sources), "n_sources", *PAIR_FEATURES, *ITEM_FEATURES, *CUSTOMER_FEATURES)


def side_names(feast: Sequence[str]) -> tuple[str, ...]:
    """The side columns (`side_features.SideTables.frame`), in order, for these Feast customer features."""
    return (*ITEM_SIDE, *PAIR_SIDE, *(FEAST_PREFIX + n for n in feast))


def ranker_names(sources: Iterable[str], feast: Sequence[str] | None) -> tuple[str, ...]:
    """Every column a ranker reads: purchase features, then side features when there are any (`feast` not None)."""
    return purchase_names(sources) + (side_names(feast) if feast is not None else ())


class Matrix:
    """A feature matrix (float32 unless told) filled column by column by name: no builder depends on a position."""

    def __init__(self, names: Sequence[str], rows: int, dtype: type = np.float32) -> None:
        self.names = tuple(names)
        self.index = {n: i for i, n in enumerate(self.names)}
        if len(self.index) != len(self.names):
            raise ValueError(f"duplicate feature names: {sorted({n for n in names if list(names).count(n) > 1})}")
        self.values: np.ndarray = np.empty((rows, len(self.names)), dtype=dtype)
        self._filled = np.zeros(len(self.names), dtype=bool)

    def __setitem__(self, name: str, values: np.ndarray | float) -> None:
        column = self.index[name]  # a KeyError names a column this layout does not have
        self.values[:, column] = values
        self._filled[column] = True

    def put(self, names: Sequence[str], block: np.ndarray) -> None:
        """Several adjacent-or-not columns at once, `block` holding them in `names` order."""
        columns = [self.index[n] for n in names]
        self.values[:, columns] = block
        self._filled[columns] = True

    def done(self) -> np.ndarray:
        if not self._filled.all():
            missing = [n for n, f in zip(self.names, self._filled, strict=True) if not f]
            raise ValueError(f"feature columns never filled: {', '.join(missing)}")
        return self.values


class StaleModel(ValueError):
    """A recommender whose ranker reads other features than this code computes: it must be retrained."""


def recorded_names(recommender: Recommender) -> dict[str, tuple[str, ...]]:
    """The feature names each fitted ranker was trained with, by ranker (read from the boosters themselves)."""
    models = recommender.reranker.models
    return {
        f"{'cross_sell' if new_only else 'all'}{' with a cart' if cart else ''}": tuple(m.booster_.feature_name())
        for (new_only, cart), m in models.items()
    }


def expected_names(recommender: Recommender, feast: Sequence[str] | None = None) -> tuple[str, ...]:
    """The names this code computes for the recommender's sources (and Feast features, when it has side ones)."""
    if feast is None:
        feast = catalog.RECOMMENDER_CUSTOMER_FEATURES  # read when called: the catalogue names today's features
    with_side = recommender.reranker.side is not None
    return ranker_names(recommender.reranker.context.sources, feast if with_side else None)


def check_features(recommender: Recommender, name: str = "this recommender") -> None:
    """Raise `StaleModel` naming the differences when the model's rankers read other features than this code
    computes (added, dropped, renamed or reordered): such a model would score garbage, so it must be retrained."""
    expected = expected_names(recommender)
    for ranker, names in recorded_names(recommender).items():
        if names == expected:
            continue
        missing = [n for n in expected if n not in names]
        extra = [n for n in names if n not in expected]
        parts = []
        if missing:
            parts.append(f"it lacks {', '.join(missing)}")
        if extra:
            parts.append(f"it reads {', '.join(extra)}, which this code no longer computes")
        if not parts:
            parts.append("it reads the same features in another order")
        raise StaleModel(
            f"{name} was trained with other features than this code computes ({ranker} ranker: "
            f"{'; '.join(parts)}): retrain it with `{RETRAIN}`"
        )
