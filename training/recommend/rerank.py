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
from training.recommend.interactions import Interactions, purchases
from training.recommend.pair_features import Context, build_context, candidate_frame
from training.recommend.side_features import SideFeatures, SideTables

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RerankConfig:
    """Sources, how many candidates each proposes, and the ranker's settings."""

    als_factors: int = 128
    als_iterations: int = 15
    als_half_life_days: float | None = 90.0  # recency-weighted orders: better ALS alone on inner validation folds
    bpr_factors: int = 64
    bpr_iterations: int = 100
    proposals: dict[str, int] = field(
        default_factory=lambda: {"als": 80, "bpr": 40, "co_order": 50, "co_customer": 30, "repeat": 40, "popular": 40}
    )
    recent_days: float = 30.0
    earlier_cutoffs_days: tuple[int, ...] = (30,)  # more label windows, each this much before the inner cutoff
    later_cutoffs_days: tuple[int, ...] = (30, 60)  # and after it: shorter windows, cut at `as_of`, nearer the future
    n_estimators: int = 120
    learning_rate: float = 0.08
    num_leaves: int = 15
    min_child_samples: int = 200
    seed: int = 0
    num_threads: int = 2
    batch_size: int = 256
    predict_threads: int = 1  # a request's few hundred rows: threads cost more than they save (batches use all)
    cart_sessions: int = 1000  # orders split into (cart, rest) per label window, to learn what a cart says

    def sources(self) -> dict[str, CandidateSource]:
        """Fresh, unfitted sources; their names prefix the per-source features."""
        return {
            "als": ImplicitALS(
                factors=self.als_factors,
                iterations=self.als_iterations,
                random_state=self.seed,
                num_threads=self.num_threads,
                half_life_days=self.als_half_life_days,
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


def _with_side(
    features: np.ndarray,
    side: SideTables | None,
    rows: np.ndarray,
    items: np.ndarray,
    customers: Sequence[int | None],
    carts: Sequence[Sequence[int]],
    customer_rows: np.ndarray | None = None,
) -> np.ndarray:
    if side is None:
        return features
    return np.hstack([features, side.frame(rows, items, customers, carts, customer_rows)])


def _group_frame(
    ctx: Context,
    customers: Sequence[int | None],
    carts: Sequence[Sequence[int]],
    wanted: Sequence[set[int]],
    new_only: bool,
    batch_size: int,
    side: SideTables | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, binary labels and group sizes, one group per (customer, cart) with its wanted products.

    Groups whose candidates hold none of the wanted products teach a ranker nothing and are left out.
    """
    parts: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    groups: list[np.ndarray] = []
    for batch in _batches(len(customers), batch_size):
        chosen = [customers[i] for i in batch]
        chosen_carts = [list(carts[i]) for i in batch]
        rows, items, features = candidate_frame(ctx, chosen, chosen_carts, new_only)
        features = _with_side(features, side, rows, items, chosen, chosen_carts)
        label = np.array([items[j] in wanted[batch.start + rows[j]] for j in range(len(rows))], dtype=np.int32)
        sizes = np.bincount(rows, minlength=len(chosen))
        hits = np.bincount(rows, weights=label, minlength=len(chosen))
        keep = np.repeat(hits > 0, sizes)
        parts.append(features[keep])
        labels.append(label[keep])
        groups.append(sizes[hits > 0])
    if not parts:
        width = len(ctx.feature_names) + (0 if side is None else side.width)
        return np.zeros((0, width), dtype=np.float32), np.zeros(0, np.int32), np.zeros(0, np.int64)
    return np.vstack(parts), np.concatenate(labels), np.concatenate(groups)


def training_frame(
    ctx: Context, label_tx: pd.DataFrame, new_only: bool, batch_size: int, side: SideTables | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One group per customer with a purchase after the context's cutoff, no cart: the next purchases."""
    x = ctx.interactions
    truth = truth_sets(x, label_tx, new_only)
    customers: list[int | None] = list(sorted(truth))
    wanted = [{x.product_index[p] for p in truth[c] if p in x.product_index} for c in sorted(truth)]
    return _group_frame(ctx, customers, [[] for _ in customers], wanted, new_only, batch_size, side)


def cart_sessions(
    ctx: Context, label_tx: pd.DataFrame, new_only: bool, limit: int, seed: int
) -> tuple[list[int | None], list[list[int]], list[set[int]]]:
    """Orders after the cutoff as carts: part of the order is the cart; the rest of it and what the same buyer
    bought in later orders of the window is what the ranker should find.

    Every other session drops the customer, so the ranker also learns what a guest's cart says.
    """
    x = ctx.interactions
    lines = purchases(label_tx)
    lines = lines[lines["product_id"].isin(x.product_index)]
    lines["p"] = lines["product_id"].map(x.product_index)
    baskets = lines.groupby("order_id", sort=True).agg(
        customer=("customer_id", "first"), ts=("ts", "max"), items=("p", "unique")
    )
    later = _later_purchases(baskets)
    rng = np.random.default_rng(seed)
    chosen = np.arange(len(baskets))
    if len(baskets) > limit:
        chosen = np.sort(rng.choice(len(baskets), size=limit, replace=False))
    customers: list[int | None] = []
    carts: list[list[int]] = []
    wanted: list[set[int]] = []
    for n, position in enumerate(chosen):
        customer_id, _, items = baskets.iloc[position]
        shuffled = rng.permutation(np.sort(items)).tolist()
        size = max(1, min(len(shuffled) // 2, 5))
        cart = sorted(shuffled[:size])
        customer = x.customer_index.get(customer_id) if n % 2 == 0 else None
        rest = (set(shuffled[size:]) | later[position]) - set(cart)
        if new_only and customer is not None:
            rest -= set(x.history(customer).tolist())
        if rest:
            customers.append(customer)
            carts.append(cart)
            wanted.append(rest)
    return customers, carts, wanted


def _later_purchases(baskets: pd.DataFrame) -> list[set[int]]:
    """For each order, the products its customer bought in their later orders (of the same frame)."""
    out: list[set[int]] = [set() for _ in range(len(baskets))]
    order = np.lexsort((np.arange(len(baskets)), baskets["ts"].to_numpy(), baskets["customer"].to_numpy()))
    customers, items = baskets["customer"].to_numpy(), baskets["items"].to_numpy()
    seen: set[int] = set()
    for i in range(len(order) - 1, -1, -1):  # walk each customer's orders newest first
        position = order[i]
        if i == len(order) - 1 or customers[order[i + 1]] != customers[position]:
            seen = set()
        out[position] = set(seen)
        seen |= set(items[position].tolist())
    return out


@dataclass
class Reranker:
    """Sources fitted on all training data plus one ranker per mode; recommends product indices of `interactions`."""

    context: Context
    models: dict[tuple[bool, bool], LGBMRanker]  # (new_only, with a cart) -> ranker
    config: RerankConfig
    fit_seconds: float = 0.0
    side: SideTables | None = None

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
        customer_rows: np.ndarray | None = None,
    ) -> list[Scored]:
        """`recommend` for many (customer, cart) pairs at once, in batches (much faster than one by one).

        `customer_rows` (one per customer) replaces the customer features held since training, e.g. with
        fresher ones from the online store.
        """
        carts = carts if carts is not None else [[] for _ in customers]
        out: list[Scored] = []
        for batch in _batches(len(customers), self.config.batch_size):
            chosen = [customers[i] for i in batch]
            chosen_carts = [list(carts[i]) for i in batch]
            rows, items, features = candidate_frame(self.context, chosen, chosen_carts, new_only)
            override = None if customer_rows is None else customer_rows[batch.start : batch.stop]
            features = _with_side(features, self.side, rows, items, chosen, chosen_carts, override)
            with_cart = np.array([bool(c) for c in chosen_carts])[rows]
            scores = np.zeros(len(rows))
            for cart_model in (False, True):
                picked = with_cart == cart_model
                if picked.any():
                    ranker = self.models[(new_only, cart_model)].booster_
                    threads = self.config.predict_threads if picked.sum() < 20_000 else self.config.num_threads
                    scores[picked] = ranker.predict(features[picked], num_threads=threads)
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
    side: SideFeatures | None = None,
) -> Reranker:
    """Learn the rankers on (before inner cutoff -> next `horizon_days`), then refit the sources on all of it.

    Label windows starting `config.earlier_cutoffs_days` earlier or `config.later_cutoffs_days` later (cut at
    `as_of`; a later one is dropped when less than a week is left) add training groups. `as_of` is the end of the
    training data (default: the day after its last transaction); recency counts from it, nothing from it on is used.
    `side` adds product facts, category affinity and customer features, each tabulated as of its cutoff.
    """
    config = config or RerankConfig()
    started = time.perf_counter()
    as_of = pd.Timestamp(as_of) if as_of is not None else train_tx["ts"].max().normalize() + pd.Timedelta(days=1)
    train_tx = train_tx[train_tx["ts"] < as_of]
    inner_cutoff = pd.Timestamp(inner_cutoff)
    cutoffs = [inner_cutoff - pd.Timedelta(days=d) for d in (0, *config.earlier_cutoffs_days)]
    later = [inner_cutoff + pd.Timedelta(days=d) for d in config.later_cutoffs_days]
    cutoffs += [c for c in later if c < as_of - pd.Timedelta(days=7)]
    keys = [(new_only, cart) for new_only in (False, True) for cart in (False, True)]
    frames: dict[tuple[bool, bool], list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {key: [] for key in keys}
    names: list[str] = []
    for cutoff in cutoffs:
        inner = build_context(train_tx, config.sources(), config.proposals, cutoff, config.recent_days)
        tables = side.at(inner.interactions, train_tx, cutoff) if side is not None else None
        names = inner.feature_names + (side.names if side is not None else [])
        end = min(cutoff + pd.Timedelta(days=horizon_days), as_of)
        window = (train_tx["ts"] >= cutoff) & (train_tx["ts"] < end)
        labels = train_tx[window]
        for new_only in (False, True):
            frames[(new_only, False)].append(training_frame(inner, labels, new_only, config.batch_size, tables))
            sessions = cart_sessions(inner, labels, new_only, config.cart_sessions, config.seed)
            frames[(new_only, True)].append(_group_frame(inner, *sessions, new_only, config.batch_size, tables))
    models: dict[tuple[bool, bool], LGBMRanker] = {}
    for key, parts in frames.items():
        if key[1] and not sum(len(p[2]) for p in parts):  # no order had two products: carts use the plain ranker
            progress(f"ranker {key}: no cart sessions, using the ranker without a cart")
            models[key] = models[(key[0], False)]
        else:
            models[key] = _fit_ranker(config, parts, names, key, progress)
    final = build_context(train_tx, config.sources(), config.proposals, as_of, config.recent_days)
    final_side = side.at(final.interactions, train_tx, as_of) if side is not None else None
    return Reranker(final, models, config, time.perf_counter() - started, final_side)


def _fit_ranker(
    config: RerankConfig,
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    names: list[str],
    key: tuple[bool, bool],
    progress: Callable[[str], None],
) -> LGBMRanker:
    features = np.vstack([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    groups = np.concatenate([p[2] for p in parts])
    if not len(groups):
        raise ValueError("no customer bought a candidate in the label windows: move the inner cutoff or widen them")
    progress(f"ranker {key}: {len(groups)} groups, {len(labels)} rows, {labels.mean():.3f} positive")
    return config.ranker().fit(features, labels, group=groups, feature_name=names)
