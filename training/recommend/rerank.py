"""Second stage: a LightGBM LambdaRank model that reorders the merged candidates of several sources.

Training needs labels the sources have not seen, so it happens inside the training period: the sources are fitted
on the transactions before an inner cutoff and the labels are each customer's purchases in the following
`horizon_days`. Then the sources are refitted on all the training data and the ranker scores their candidates.
Two rankers are learnt, one for `all` (repeats allowed) and one for `new_only` (never-bought products, the
cross-sell case), since what predicts a repeat (how often, how lately) differs from what predicts a first buy.
A second fit without a held-out share of the customers judges the model against its baselines on them, per mode,
and records whether it answers, blends with a baseline or falls back to one (`guard`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self

import numpy as np
import pandas as pd
from lightgbm import LGBMRanker

from training.recommend import baselines, guard
from training.recommend.candidates import (
    CandidateSource,
    Scored,
)
from training.recommend.dataset import Interactions, purchases
from training.recommend.label_frames import Frame, batches, cart_sessions, group_frame, stack, training_frame, with_side
from training.recommend.metrics import truth_sets
from training.recommend.options import RerankConfig
from training.recommend.pairs import Context, build_context, candidate_frame, request_frame
from training.recommend.side_features import SideFeatures, SideTables

log = logging.getLogger(__name__)


@dataclass
class Reranker:
    """Sources fitted on all training data plus one ranker per mode; recommends product indices of `interactions`."""

    context: Context
    models: dict[tuple[bool, bool], LGBMRanker]  # (new_only, with a cart) -> ranker
    config: RerankConfig
    fit_seconds: float = 0.0
    side: SideTables | None = None
    feature_names: tuple[str, ...] = ()  # the rankers' columns, as trained (see `columns`)
    policy: dict[str, guard.ModePolicy] = field(default_factory=dict)  # mode -> model, blend or fallback
    baselines: dict[str, CandidateSource] = field(default_factory=dict)  # fitted, those the policy uses

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

        The rankers' own order: the `policy` is applied by `ranking`. `customer_rows` (one per customer,
        columns in `side.customer_names` order) replaces the customer features held since training.
        """
        rows, items, scores = self.score(customers, carts, new_only, customer_rows)
        order = np.lexsort((items, -scores, rows))
        bounds = np.searchsorted(rows[order], np.arange(len(customers) + 1))
        out: list[Scored] = []
        for row in range(len(customers)):
            mine = order[bounds[row] : bounds[row + 1]][: max(k, 0)]
            out.append([(int(items[j]), float(scores[j])) for j in mine])
        return out

    def score(
        self,
        customers: Sequence[int | None],
        carts: Sequence[Sequence[int]] | None,
        new_only: bool = False,
        customer_rows: np.ndarray | None = None,
        keep: np.ndarray | None = None,
        threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rankers' score of the candidates of many (customer, cart) pairs: (row, product index, score).

        Computed `config.batch_size` rows at a time (one row alone: `request_frame`). `keep` (rows x products)
        drops candidates before they are scored: each one is scored on its own, so the others' scores stay the
        same. `threads` fixes LightGBM's threads (default: `predict_threads` under 20,000 candidates, else
        `num_threads`).
        """
        carts = carts if carts is not None else [[] for _ in customers]
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for batch in batches(len(customers), self.config.batch_size):
            chosen = [customers[i] for i in batch]
            chosen_carts = [list(carts[i]) for i in batch]
            if len(batch) == 1:  # a request: the same features, built for one row (see `request_frame`)
                rows, items, features = request_frame(self.context, chosen[0], chosen_carts[0], new_only)
            else:
                rows, items, features = candidate_frame(self.context, chosen, chosen_carts, new_only)
            if keep is not None:
                wanted = keep[batch.start + rows, items]
                rows, items, features = rows[wanted], items[wanted], features[wanted]
            override = None if customer_rows is None else customer_rows[batch.start : batch.stop]
            features = with_side(features, self.side, rows, items, chosen, chosen_carts, override)
            with_cart = np.array([bool(c) for c in chosen_carts])[rows]
            scores = np.zeros(len(rows))
            for cart_model in (False, True):
                picked = with_cart == cart_model
                if picked.any():
                    ranker = self.models[(new_only, cart_model)].booster_
                    n = threads or (self.config.predict_threads if picked.sum() < 20_000 else self.config.num_threads)
                    scores[picked] = ranker.predict(features[picked], num_threads=n)
            found.append((rows + batch.start, items, scores))
        if not found:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
        return tuple(np.concatenate(part) for part in zip(*found, strict=True))  # type: ignore[return-value]

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
    policy: Mapping[str, guard.ModePolicy] | None = None,
) -> Reranker:
    """Learn the rankers on (before inner cutoff -> next `horizon_days`), then refit the sources on all of it.

    Label windows starting `config.earlier_cutoffs_days` earlier or `config.later_cutoffs_days` later (cut at
    `as_of`; a later one is dropped when less than a week is left) add training groups. `as_of` is the end of the
    training data (default: the day after its last transaction); recency counts from it, nothing from it on is used.
    `side` adds product facts, category affinity and customer features, each tabulated as of its cutoff.
    With `config.validation_share` > 0 the returned reranker carries a `policy` per mode (see `guard`); a `policy`
    passed in (the evaluation fit's, for the refit that is registered) is kept as it is, with no inner validation.
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
    frames: dict[tuple[bool, bool], list[Frame]] = {key: [] for key in keys}
    share = config.validation_share if policy is None else 0.0
    held = guard.held_out(set(purchases(train_tx)["customer_id"]), share, config.seed)
    judged: dict[bool, list[_Judged]] = {False: [], True: []}  # per no-cart frame: its held-out customers
    names: list[str] = []
    for cutoff in cutoffs:
        inner = build_context(train_tx, config.sources(), config.proposals, cutoff, config.recent_days)
        x = inner.interactions
        tables = side.at(x, train_tx, cutoff) if side is not None else None
        names = inner.feature_names + (side.names if side is not None else [])
        end = min(cutoff + pd.Timedelta(days=horizon_days), as_of)
        labels = train_tx[(train_tx["ts"] >= cutoff) & (train_tx["ts"] < end)]
        here = frozenset(i for i, c in enumerate(x.customer_ids) if c in held)
        fitted = baselines.fitted_baselines(x, inner.sources) if here else {}
        for new_only in (False, True):
            plain = training_frame(inner, labels, new_only, config.batch_size, tables, here)
            frames[(new_only, False)].append(plain)
            truth = {c: t for c, t in truth_sets(x, labels, new_only).items() if c in here} if here else {}
            lists = baselines.baseline_lists(fitted, x, sorted(truth), new_only)
            mine = np.isin(plain.owners, list(here))
            judged[new_only].append(_Judged(mine, truth, lists, x.customer_ids, x.product_ids))
            sessions = cart_sessions(inner, labels, new_only, config.cart_sessions, config.seed)
            frames[(new_only, True)].append(group_frame(inner, *sessions, new_only, config.batch_size, tables))
    models: dict[tuple[bool, bool], LGBMRanker] = {}
    for key, parts in frames.items():
        if key[1] and not sum(len(p.groups) for p in parts):  # no order had two products: carts use the plain one
            progress(f"ranker {key}: no cart sessions, using the ranker without a cart")
            models[key] = models[(key[0], False)]
        else:
            models[key] = _fit_ranker(config, [(p, p.hits) for p in parts], names, key, progress)
    decided: dict[str, guard.ModePolicy] = dict(policy or {})
    if held:
        decided = _inner_validation(config, frames, judged, names, progress)
    final = build_context(train_tx, config.sources(), config.proposals, as_of, config.recent_days)
    final_side = side.at(final.interactions, train_tx, as_of) if side is not None else None
    kept = baselines.fit_baselines(decided, final.interactions)
    seconds = time.perf_counter() - started
    return Reranker(final, models, config, seconds, final_side, tuple(names), decided, kept)


@dataclass
class _Judged:
    """A label window's held-out customers: their groups in its no-cart frame, truth and baselines' lists."""

    groups: np.ndarray  # per group of the frame: a held-out customer's
    truth: dict[int, set[str]]
    baselines: dict[int, dict[str, np.ndarray]]
    customer_ids: tuple[str, ...]
    product_ids: tuple[str, ...]


def _inner_validation(
    config: RerankConfig,
    frames: dict[tuple[bool, bool], list[Frame]],
    judged: dict[bool, list[_Judged]],
    names: list[str],
    progress: Callable[[str], None],
) -> dict[str, guard.ModePolicy]:
    """No-cart rankers refitted without the held-out customers, judged on them at every label window (`guard`)."""
    cases: dict[str, list[guard.Case]] = {}
    for mode, new_only in guard.MODE_NEW_ONLY.items():
        plain = frames[(new_only, False)]
        parts = [(f, f.hits & ~j.groups) for f, j in zip(plain, judged[new_only], strict=True)]
        if not sum(int(g.sum()) for _, g in parts):
            progress(f"inner validation, {mode}: no customer left to learn from once some are held out")
            return {}
        model = _fit_ranker(config, parts, names, (new_only, False), progress, "validation ")
        cases[mode] = []
        for frame, window in zip(plain, judged[new_only], strict=True):
            if not window.groups.any():
                continue
            rows = frame.features[frame.rows(window.groups)]
            scores = np.asarray(model.booster_.predict(rows, num_threads=config.num_threads))
            for owner, found in frame.ranked(scores, window.groups):
                customer = window.customer_ids[owner]
                truth, lists = window.truth[owner], window.baselines[owner]
                cases[mode].append(guard.Case(customer, found, lists, truth, window.product_ids))
    return guard.choose_policy(cases, progress, config.seed)


def _fit_ranker(
    config: RerankConfig,
    parts: list[tuple[Frame, np.ndarray]],
    names: list[str],
    key: tuple[bool, bool],
    progress: Callable[[str], None],
    what: str = "",
) -> LGBMRanker:
    """A ranker on the flagged groups of the frames."""
    features, labels, groups = stack(parts)
    if not len(groups):
        raise ValueError("no customer bought a candidate in the label windows: move the inner cutoff or widen them")
    progress(f"{what}ranker {key}: {len(groups)} groups, {len(labels)} rows, {labels.mean():.3f} positive")
    return config.ranker().fit(features, labels, group=groups, feature_name=names)
