"""Second stage: a LightGBM LambdaRank model that reorders the merged candidates of several sources.

Training needs labels the sources have not seen, so it happens inside the training period: the sources are fitted
on the transactions before an inner cutoff and the labels are each customer's purchases in the following
`horizon_days`. Then the sources are refitted on all the training data and the ranker scores their candidates.
Two rankers are learnt, one for `all` (repeats allowed) and one for `new_only` (never-bought products, the
cross-sell case), since what predicts a repeat (how often, how lately) differs from what predicts a first buy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Self

import numpy as np
import pandas as pd
from lightgbm import LGBMRanker

from training.recommend.candidates import (
    CandidateSource,
    CoPurchase,
    ImplicitALS,
    ImplicitBPR,
    Popularity,
    Repeat,
    Scored,
)
from training.recommend.evaluate import truth_sets
from training.recommend.interactions import Interactions
from training.recommend.pair_features import Context, build_context, candidate_frame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RerankConfig:
    """Sources, how many candidates each proposes, and the ranker's settings."""

    als_factors: int = 64
    als_iterations: int = 15
    bpr_factors: int = 64
    bpr_iterations: int = 100
    proposals: dict[str, int] = field(
        default_factory=lambda: {"als": 50, "bpr": 30, "co_order": 40, "co_customer": 30, "repeat": 30, "popular": 20}
    )
    recent_days: float = 30.0
    earlier_cutoffs_days: tuple[int, ...] = (30, 60)  # more label windows, each this much before the inner cutoff
    n_estimators: int = 200
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 200
    seed: int = 0
    num_threads: int = 2
    batch_size: int = 256

    def sources(self) -> dict[str, CandidateSource]:
        """Fresh, unfitted sources; their names prefix the per-source features."""
        return {
            "als": ImplicitALS(
                factors=self.als_factors,
                iterations=self.als_iterations,
                random_state=self.seed,
                num_threads=self.num_threads,
            ),
            "bpr": ImplicitBPR(factors=self.bpr_factors, iterations=self.bpr_iterations, random_state=self.seed),
            "co_order": CoPurchase(),
            "co_customer": CoPurchase(by="customer"),
            "repeat": Repeat(half_life_days=90),
            "popular": Popularity(half_life_days=self.recent_days),
        }

    def ranker(self) -> LGBMRanker:
        return LGBMRanker(
            objective="lambdarank",
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            lambdarank_truncation_level=20,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            random_state=self.seed,
            deterministic=True,
            force_row_wise=True,
            n_jobs=self.num_threads,
            verbose=-1,
        )


def _batches(n: int, size: int) -> list[range]:
    return [range(start, min(start + size, n)) for start in range(0, n, size)]


def training_frame(
    ctx: Context, label_tx: pd.DataFrame, new_only: bool, batch_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, binary labels and group sizes for every customer with a purchase after the context's cutoff.

    Customers whose candidates hold none of their purchases teach a ranker nothing and are left out.
    """
    x = ctx.interactions
    truth = truth_sets(x, label_tx, new_only)
    customers = sorted(truth)
    parts: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    groups: list[np.ndarray] = []
    for batch in _batches(len(customers), batch_size):
        chosen = [customers[i] for i in batch]
        rows, items, features = candidate_frame(ctx, chosen, [[] for _ in chosen], new_only)
        wanted = [{x.product_index[p] for p in truth[c] if p in x.product_index} for c in chosen]
        label = np.array([items[j] in wanted[rows[j]] for j in range(len(rows))], dtype=np.int32)
        sizes = np.bincount(rows, minlength=len(chosen))
        hits = np.bincount(rows, weights=label, minlength=len(chosen))
        keep = np.repeat(hits > 0, sizes)
        parts.append(features[keep])
        labels.append(label[keep])
        groups.append(sizes[hits > 0])
    if not parts:
        return np.zeros((0, len(ctx.feature_names)), dtype=np.float32), np.zeros(0, np.int32), np.zeros(0, np.int64)
    return np.vstack(parts), np.concatenate(labels), np.concatenate(groups)


@dataclass
class Reranker:
    """Sources fitted on all training data plus one ranker per mode; recommends product indices of `interactions`."""

    context: Context
    models: dict[bool, LGBMRanker]
    config: RerankConfig
    fit_seconds: float = 0.0

    @property
    def interactions(self) -> Interactions:
        return self.context.interactions

    def recommend(self, customer_index: int | None, cart: Sequence[int], k: int, new_only: bool = False) -> Scored:
        """Up to k (product index, score), best first; never a cart item, nor with `new_only` a bought one."""
        return self.recommend_many([customer_index], [cart], k, new_only)[0]

    def recommend_many(
        self,
        customers: Sequence[int | None],
        carts: Sequence[Sequence[int]] | None,
        k: int,
        new_only: bool = False,
    ) -> list[Scored]:
        """`recommend` for many (customer, cart) pairs at once, in batches (much faster than one by one)."""
        carts = carts if carts is not None else [[] for _ in customers]
        out: list[Scored] = []
        for batch in _batches(len(customers), self.config.batch_size):
            chosen = [customers[i] for i in batch]
            rows, items, features = candidate_frame(self.context, chosen, [list(carts[i]) for i in batch], new_only)
            scores = self.models[new_only].booster_.predict(features) if len(rows) else np.zeros(0)
            for row in range(len(chosen)):
                mine = np.flatnonzero(rows == row)
                order = np.lexsort((items[mine], -scores[mine]))[: max(k, 0)]
                out.append([(int(items[mine[j]]), float(scores[mine[j]])) for j in order])
        return out

    def as_source(self, new_only: bool = False) -> RerankedSource:
        """The reranker as a `CandidateSource` (already fitted), for `evaluate_fitted`."""
        return RerankedSource(self, new_only)


class RerankedSource:
    """Adapter: the two-stage model behind the candidate-source contract, in one mode."""

    def __init__(self, reranker: Reranker, new_only: bool) -> None:
        self.reranker = reranker
        self.new_only = new_only
        self.name = "reranker_new" if new_only else "reranker"

    def fit(self, interactions: Interactions) -> Self:
        """Already fitted: the reranker builds its own interactions, which must be these."""
        if interactions.product_ids != self.reranker.interactions.product_ids:
            raise ValueError("the reranker was fitted on other interactions")
        return self

    def candidates(
        self, customer_index: int | None, cart: list[int], k: int, exclude: set[int] | None = None
    ) -> Scored:
        blocked = exclude or set()
        found = self.reranker.recommend(customer_index, cart, k + len(blocked), self.new_only)
        return [(i, s) for i, s in found if i not in blocked][:k]


def fit_reranker(
    train_tx: pd.DataFrame,
    inner_cutoff: pd.Timestamp,
    horizon_days: float,
    config: RerankConfig | None = None,
    as_of: pd.Timestamp | None = None,
    progress: Callable[[str], None] = log.info,
) -> Reranker:
    """Learn the rankers on (before inner cutoff -> next `horizon_days`), then refit the sources on all of it.

    Label windows starting `config.earlier_cutoffs_days` earlier add training groups. `as_of` is the end of the
    training data (default: the day after its last transaction); recency counts from it, nothing from it on is used.
    """
    config = config or RerankConfig()
    started = time.perf_counter()
    as_of = pd.Timestamp(as_of) if as_of is not None else train_tx["ts"].max().normalize() + pd.Timedelta(days=1)
    train_tx = train_tx[train_tx["ts"] < as_of]
    cutoffs = [pd.Timestamp(inner_cutoff) - pd.Timedelta(days=d) for d in (0, *config.earlier_cutoffs_days)]
    frames: dict[bool, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {False: [], True: []}
    names: list[str] = []
    for cutoff in cutoffs:
        inner = build_context(train_tx, config.sources(), config.proposals, cutoff, config.recent_days)
        names = inner.feature_names
        window = (train_tx["ts"] >= cutoff) & (train_tx["ts"] < cutoff + pd.Timedelta(days=horizon_days))
        for new_only in (False, True):
            frames[new_only].append(training_frame(inner, train_tx[window], new_only, config.batch_size))
    models = {new_only: _fit_ranker(config, parts, names, new_only, progress) for new_only, parts in frames.items()}
    final = build_context(train_tx, config.sources(), config.proposals, as_of, config.recent_days)
    return Reranker(final, models, config, time.perf_counter() - started)


def _fit_ranker(
    config: RerankConfig,
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    names: list[str],
    new_only: bool,
    progress: Callable[[str], None],
) -> LGBMRanker:
    features = np.vstack([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    groups = np.concatenate([p[2] for p in parts])
    if not len(groups):
        raise ValueError("no customer bought a candidate in the label windows: move the inner cutoff or widen them")
    progress(f"ranker new_only={new_only}: {len(groups)} groups, {len(labels)} rows, {labels.mean():.3f} positive")
    return config.ranker().fit(features, labels, group=groups, feature_name=names)
