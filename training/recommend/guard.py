"""Never below its own baselines: per mode, an inner validation chooses the model, a blend, or a baseline.

On sparse baskets the rankers can learn too little to beat a plain baseline (popularity of never-bought products
did better than cross_sell on one retailer). So a seeded share of the customers is held out of a second fit of
the no-cart rankers, and the model is judged on them at the rankers' own label windows (the inner cutoff and the
windows around it, all inside the training period, never the evaluation period): its lists against each
baseline's, fitted on the same interactions as of the same cutoff. Every window counts, since one window's few
hundred customers are too noisy on sparse data. When a baseline is ahead in a mode, the baseline answers, or a
blend of the two lists (reciprocal-rank fusion, the model's share 0.75, 0.5 or 0.25) when it is clearly better
than the baseline; ties go to the model. The decision (`ModePolicy`) travels inside the fitted model and applies
to every request without a cart: a cart's ranker is not judged here, and the baselines ignore carts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from training.recommend.candidates import CandidateSource, Scored
from training.recommend.metrics import recall_at_k

log = logging.getLogger(__name__)

MODE_NEW_ONLY: dict[str, bool] = {"all": False, "cross_sell": True}  # the modes judged, and their truth
WEIGHTS = (0.75, 0.5, 0.25, 0.0)  # the model's share in the blends tried when a baseline is ahead
FUSION_K = 10.0  # reciprocal-rank fusion: an item at rank r (0 = first) adds share / (FUSION_K + r + 1)
DEPTH = 100  # how far down each list the fusion reads; the model's remaining candidates follow in its order
K = 10  # the validation's recall@K, as the evaluation reports
CLEAR_SE = 1.0  # a blend replaces a baseline that beats the model only when this many standard errors above it
MIN_CUSTOMERS = 10  # fewer held-out customers with a truth in a mode than this: too few to judge, keep the model

Kind = Literal["model", "blend", "fallback"]


@dataclass(frozen=True)
class ModePolicy:
    """How one mode answers a request without a cart, and the inner-validation recall@10 that decided it."""

    kind: Kind  # model: the rankers alone; blend: fused with `baseline`; fallback: `baseline` first
    baseline: str  # the best baseline on the inner validation (used only when kind is not "model")
    weight: float  # the model's share in the fusion: 1 for model, 0 for fallback
    inner_model: float  # recall@10 of the model on the held-out customers
    inner_baseline: float  # of the best baseline
    inner_chosen: float  # of what was chosen (the model, the blend or the baseline)
    customers: int  # held-out customers with a truth in this mode, at one cutoff or more
    sessions: int  # (customer, cutoff) pairs judged

    def as_dict(self) -> dict[str, str | float | int]:
        return asdict(self)


def policy_params(policy: Mapping[str, ModePolicy]) -> dict[str, str | float | int]:
    """Flat `policy_<mode>_<field>` entries, ready for `mlflow.log_params`."""
    return {f"policy_{mode}_{k}": v for mode, p in policy.items() for k, v in p.as_dict().items()}


def blend(model: Scored, baseline: Scored, weight: float, depth: int = DEPTH) -> Scored:
    """The model's list fused with a baseline's by reciprocal rank, the model weighing `weight` (1: the model's
    list as it is; 0: the baseline's first). The model's other candidates follow in its order, scored below 0."""
    if weight >= 1.0 or not baseline:
        return model
    fused: dict[int, float] = {}
    for rank, (item, _) in enumerate(model[:depth]):
        fused[item] = weight / (FUSION_K + rank + 1)
    for rank, (item, _) in enumerate(baseline[:depth]):
        fused[item] = fused.get(item, 0.0) + (1.0 - weight) / (FUSION_K + rank + 1)
    head = sorted(((i, s) for i, s in fused.items() if s > 0), key=lambda pair: (-pair[1], pair[0]))
    taken = {i for i, _ in head}
    tail = [i for i, _ in model if i not in taken]
    return head + [(i, -(rank + 1) / (len(tail) + 1)) for rank, i in enumerate(tail)]


def held_out(customer_ids: Collection[str], share: float, seed: int) -> frozenset[str]:
    """A seeded random `share` of the customers, by id, so the same ones are held out at every cutoff."""
    ids = sorted(customer_ids)
    if share <= 0 or not ids:
        return frozenset()
    rng = np.random.default_rng(seed)
    return frozenset(np.asarray(ids)[rng.random(len(ids)) < share].tolist())


@dataclass(frozen=True)
class Case:
    """One held-out customer at one cutoff: the model's list, each baseline's (top DEPTH), what they bought."""

    customer: str
    model: Scored
    baselines: Mapping[str, np.ndarray]
    truth: AbstractSet[str]
    product_ids: Sequence[str]  # the cutoff's product index -> id


def _recalls(cases: Sequence[Case], lists: Sequence[Scored | np.ndarray]) -> np.ndarray:
    """recall@K of each case's list."""

    def top(found: Scored | np.ndarray, ids: Sequence[str]) -> list[str]:
        return [ids[int(i)] for i in found[:K]] if isinstance(found, np.ndarray) else [ids[i] for i, _ in found[:K]]

    return np.array([recall_at_k(top(f, c.product_ids), c.truth, K) for c, f in zip(cases, lists, strict=True)])


def _clearly_above(option: np.ndarray, base: np.ndarray, clusters: np.ndarray) -> bool:
    """The option beats the baseline by more than CLEAR_SE standard errors of the mean gain; a customer's
    sessions at several cutoffs are related, so customers are the units of the error."""
    gain = np.bincount(clusters, weights=option - base) / np.bincount(clusters)
    if len(gain) < 2:
        return False
    return bool(gain.mean() > CLEAR_SE * gain.std(ddof=1) / np.sqrt(len(gain)))


def decide(cases: Sequence[Case]) -> ModePolicy:
    """The model unless a baseline is ahead on recall@K. Then the baseline, or the best blend of the two lists when
    it is clearly above the baseline: the validation flatters the model (a ranker judged inside the period it
    learnt from), so once the model is behind, only a clear gain is trusted."""
    _, clusters = np.unique([c.customer for c in cases], return_inverse=True)
    customers = int(clusters.max()) + 1 if len(cases) else 0
    if customers < MIN_CUSTOMERS:
        nan = float("nan")
        return ModePolicy("model", "", 1.0, nan, nan, nan, customers, len(cases))
    model = _recalls(cases, [c.model for c in cases])
    names = list(cases[0].baselines)
    scores = {name: _recalls(cases, [c.baselines[name] for c in cases]) for name in names}
    best = max(names, key=lambda name: float(scores[name].mean()))  # the first listed wins a tie
    base = scores[best]
    if base.mean() <= model.mean():
        return ModePolicy(
            "model", best, 1.0, float(model.mean()), float(base.mean()), float(model.mean()), customers, len(cases)
        )
    ranked = [[(int(i), 0.0) for i in c.baselines[best]] for c in cases]
    weight, chosen = 0.0, base
    for w in WEIGHTS[:-1]:  # the model's largest share wins a tie
        blended = _recalls(cases, [blend(c.model, b, w) for c, b in zip(cases, ranked, strict=True)])
        if blended.mean() > chosen.mean() and _clearly_above(blended, base, clusters):
            weight, chosen = w, blended
    kind: Kind = "fallback" if weight == 0.0 else "blend"
    figures = float(model.mean()), float(base.mean()), float(chosen.mean())
    return ModePolicy(kind, best, weight, *figures, customers, len(cases))


def choose_policy(
    cases: Mapping[str, Sequence[Case]], progress: Callable[[str], None] = log.info
) -> dict[str, ModePolicy]:
    """Per mode, the decision on its held-out cases (every cutoff pooled)."""
    policy: dict[str, ModePolicy] = {}
    for mode, judged in cases.items():
        policy[mode] = decided = decide(judged)
        if decided.baseline == "":
            progress(f"inner validation, {mode}: {decided.customers} held-out customers, too few to judge: the model")
            continue
        progress(
            f"inner validation, {mode} ({decided.customers} held-out customers, {decided.sessions} sessions): "
            f"recall@{K} model {decided.inner_model:.4f}, best baseline {decided.baseline} "
            f"{decided.inner_baseline:.4f}: {decided.kind}"
            + ("" if decided.kind == "model" else f" (model share {decided.weight}, {decided.inner_chosen:.4f})")
        )
    return policy


def guarded(
    policy: ModePolicy | None, baseline: CandidateSource | None, customer: int | None, exclude: set[int], pool: Scored
) -> Scored:
    """A request's pool (the model's candidates, best first) under its mode's policy; no cart assumed."""
    if policy is None or policy.kind == "model" or baseline is None:
        return pool
    return blend(pool, baseline.candidates(customer, [], DEPTH, exclude or None), policy.weight)
