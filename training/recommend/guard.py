"""Never below its own baselines: per mode, an inner validation chooses the model, a blend, or a baseline.

On sparse baskets the rankers can learn too little to beat a plain baseline (popularity of never-bought products
did better than cross_sell on one retailer). So a seeded share of the customers is held out of a second fit of
the no-cart rankers, and the model is judged on them at the rankers' own label windows (the inner cutoff and the
windows around it, all inside the training period, never the evaluation period): its lists against each
baseline's, fitted on the same interactions as of the same cutoff. Every window counts, since one window's few
hundred customers are too noisy on sparse data.

The rule, per mode, robust to small validations: the model answers only where it wins by more than the
validation's noise, that is where the lower end of the 90% interval of its recall@10 gain over the best baseline
(a paired bootstrap over held-out customers, a customer's windows averaged into one gain) is above 0. Otherwise a
blend of the two lists (reciprocal-rank fusion, the model's share 0.75, 0.5 or 0.25) answers if its own interval
over the baseline is above 0 (the best such blend), else the baseline itself. A tie goes to the baseline. With
fewer than MIN_CUSTOMERS held-out customers in a mode there is nothing to judge and the model answers. The
decision (`ModePolicy`, with its interval) travels inside the fitted model and applies to every request without
a cart: a cart's ranker is not judged here, and the baselines ignore carts. The training runner's refit keeps the
evaluation fit's decision, so what is registered is what the evaluation scored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass
from dataclasses import fields as fields_of
from typing import Literal

import numpy as np
from scipy import stats

from training.recommend.candidates import CandidateSource, Scored
from training.recommend.metrics import recall_at_k

log = logging.getLogger(__name__)

MODE_NEW_ONLY: dict[str, bool] = {"all": False, "cross_sell": True}  # the modes judged, and their truth
WEIGHTS = (0.75, 0.5, 0.25, 0.0)  # the model's share in the blends tried when a baseline is ahead
FUSION_K = 10.0  # reciprocal-rank fusion: an item at rank r (0 = first) adds share / (FUSION_K + r + 1)
DEPTH = 100  # how far down each list the fusion reads; the model's remaining candidates follow in its order
K = 10  # the validation's recall@K, as the evaluation reports
LEVEL = 0.90  # the two-sided interval of a gain over the best baseline; its lower end must be above 0
RESAMPLES = 2000  # bootstrap resamples of the held-out customers
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
    gain: float = float("nan")  # the model's recall@10 minus the baseline's, mean over held-out customers
    gain_low: float = float("nan")  # its LEVEL interval (paired bootstrap over customers): the model needs low > 0
    gain_high: float = float("nan")

    def as_dict(self) -> dict[str, str | float | int]:
        return asdict(self)


def policy_params(policy: Mapping[str, ModePolicy]) -> dict[str, str | float | int]:
    """Flat `policy_<mode>_<field>` entries, ready for `mlflow.log_params`."""
    return {f"policy_{mode}_{k}": v for mode, p in policy.items() for k, v in p.as_dict().items()}


def policy_from_params(params: Mapping[str, str], prefix: str = "policy_") -> dict[str, ModePolicy]:
    """The policy back from logged params (`policy_params`, read from MLflow as strings); {} when none."""
    out: dict[str, ModePolicy] = {}
    for mode in MODE_NEW_ONLY:
        fields = {f.name: params[key] for f in fields_of(ModePolicy) if (key := f"{prefix}{mode}_{f.name}") in params}
        if "kind" in fields:
            typed = {k: v if k in ("kind", "baseline") else float(v) for k, v in fields.items()}
            typed |= {k: int(float(fields[k])) for k in ("customers", "sessions") if k in fields}
            out[mode] = ModePolicy(**typed)  # type: ignore[arg-type]
    return out


def policy_metrics(policy: Mapping[str, ModePolicy]) -> dict[str, float]:
    """`inner_<mode>_<figure>` entries for `mlflow.log_metrics`: the held-out figures, the interval of the model's
    gain and the model's share in what answers (1 the model, 0 the baseline)."""
    names = {"inner_model": "model", "inner_baseline": "baseline", "inner_chosen": "chosen", "weight": "model_share"}
    fields = ("inner_model", "inner_baseline", "inner_chosen", "gain", "gain_low", "gain_high", "customers", "weight")
    return {f"inner_{m}_{names.get(f, f)}": float(getattr(p, f)) for m, p in policy.items() for f in fields}


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


def gain_interval(option: np.ndarray, base: np.ndarray, clusters: np.ndarray, seed: int = 0) -> tuple[float, ...]:
    """(mean, low, high): the option's recall gain over the baseline and its LEVEL interval, by a paired bootstrap
    over customers (a customer's sessions at several cutoffs are related, so their gains are averaged first)."""
    gain = np.bincount(clusters, weights=option - base) / np.bincount(clusters)
    mean = float(gain.mean()) if len(gain) else float("nan")
    if len(gain) < 2 or np.ptp(gain) == 0:  # nothing varies: no noise to measure (and no interval above 0)
        return mean, mean, mean
    found = stats.bootstrap(
        (gain,),
        np.mean,
        n_resamples=RESAMPLES,
        confidence_level=LEVEL,
        method="percentile",
        vectorized=True,
        batch=200,
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return mean, float(found.low), float(found.high)


def decide(cases: Sequence[Case], seed: int = 0) -> ModePolicy:
    """The model where the lower end of its gain's interval over the best baseline is above 0; else the best blend
    whose own interval is above 0; else the baseline (see the module's rule)."""
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
    gain = gain_interval(model, base, clusters, seed)
    figures = dict(zip(("gain", "gain_low", "gain_high"), gain, strict=True))
    inner = float(model.mean()), float(base.mean())
    if gain[1] > 0:
        return ModePolicy("model", best, 1.0, *inner, inner[0], customers, len(cases), **figures)
    ranked = [[(int(i), 0.0) for i in c.baselines[best]] for c in cases]
    weight, chosen = 0.0, base
    for w in WEIGHTS[:-1]:  # the model's largest share wins a tie
        blended = _recalls(cases, [blend(c.model, b, w) for c, b in zip(cases, ranked, strict=True)])
        if blended.mean() > chosen.mean() and gain_interval(blended, base, clusters, seed)[1] > 0:
            weight, chosen = w, blended
    kind: Kind = "fallback" if weight == 0.0 else "blend"
    return ModePolicy(kind, best, weight, *inner, float(chosen.mean()), customers, len(cases), **figures)


def describe(mode: str, p: ModePolicy) -> str:
    """One line: what answers the mode, and the inner validation behind it (figures, customers, interval)."""
    if p.baseline == "":
        return f"{mode}: the model ({p.customers} held-out customers, too few to judge)"
    served = {"model": "the model", "blend": f"a blend, model share {p.weight}", "fallback": p.baseline}[p.kind]
    chosen = "" if p.kind != "blend" else f", blend {p.inner_chosen:.4f}"
    interval = f"{LEVEL:.0%} interval {p.gain_low:+.4f} to {p.gain_high:+.4f}"
    gain = "" if np.isnan(p.gain) else f"; model gain {p.gain:+.4f}, {interval}"  # (none recorded before the rule)
    return (
        f"{mode}: {served} (inner validation, {p.customers} held-out customers, {p.sessions} sessions: "
        f"recall@{K} model {p.inner_model:.4f}, {p.baseline} {p.inner_baseline:.4f}{chosen}{gain})"
    )


def choose_policy(
    cases: Mapping[str, Sequence[Case]], progress: Callable[[str], None] = log.info, seed: int = 0
) -> dict[str, ModePolicy]:
    """Per mode, the decision on its held-out cases (every cutoff pooled)."""
    policy: dict[str, ModePolicy] = {}
    for mode, judged in cases.items():
        policy[mode] = decide(judged, seed)
        progress(describe(mode, policy[mode]))
    return policy


def guarded(
    policy: ModePolicy | None, baseline: CandidateSource | None, customer: int | None, exclude: set[int], pool: Scored
) -> Scored:
    """A request's pool (the model's candidates, best first) under its mode's policy; no cart assumed."""
    if policy is None or policy.kind == "model" or baseline is None:
        return pool
    return blend(pool, baseline.candidates(customer, [], DEPTH, exclude or None), policy.weight)
