"""The baselines the recommender must not lose to: popularity, repeat-then-popular, ALS alone and BPR alone.

A training run reports each of them on the evaluation period (`RecommenderFamily.baselines`), and the inner
validation judges the model against them on held-out customers (`guard`); the ones a policy uses travel, fitted,
inside the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from training.recommend.candidates import CandidateSource, Fallback, ImplicitALS, ImplicitBPR, Popularity, Repeat
from training.recommend.dataset import Interactions
from training.recommend.guard import DEPTH, ModePolicy


def baseline_sources() -> dict[str, CandidateSource]:
    """The baselines the model must not lose to, unfitted: the same ones a training run reports."""
    return {
        "popularity": Popularity(),
        "repeat_then_popular": Fallback(Repeat(), Popularity()),
        "als": ImplicitALS(),
        "bpr": ImplicitBPR(),
    }


def baseline_lists(
    fitted: Mapping[str, CandidateSource], x: Interactions, customers: Sequence[int], new_only: bool
) -> dict[int, dict[str, np.ndarray]]:
    """Each baseline's top DEPTH product indices per customer (never-bought ones only with `new_only`)."""
    out: dict[int, dict[str, np.ndarray]] = {}
    for c in customers:
        exclude = set(x.history(c).tolist()) if new_only else None
        out[c] = {
            name: np.array([i for i, _ in source.candidates(c, [], DEPTH, exclude)], dtype=np.int32)
            for name, source in fitted.items()
        }
    return out


def fitted_baselines(
    x: Interactions, fitted: Mapping[str, CandidateSource] | None = None
) -> dict[str, CandidateSource]:
    """Every baseline fitted on `x`; one set up like a source in `fitted` (already fitted on `x`) is that source,
    since refitting it would give the same model (BPR is the costly one, and the ranker's BPR is the baseline's)."""
    out: dict[str, CandidateSource] = {}
    for name, source in baseline_sources().items():
        same = [s for s in (fitted or {}).values() if _settings(s) is not None and _settings(s) == _settings(source)]
        out[name] = same[0] if same else source.fit(x)
    return out


def _settings(source: CandidateSource) -> tuple[object, ...] | None:
    """What makes two BPR sources learn the same model (single-threaded BPR is deterministic); None otherwise."""
    if not isinstance(source, ImplicitBPR):
        return None
    model = source.model
    return (
        model.factors,
        model.learning_rate,
        model.regularization,
        model.iterations,
        model.random_state,
        model.num_threads,
    )


def fit_baselines(policy: Mapping[str, ModePolicy], x: Interactions) -> dict[str, CandidateSource]:
    """The baselines the policy uses, fitted on the final interactions (none when every mode keeps the model)."""
    wanted = {p.baseline for p in policy.values() if p.kind != "model"}
    return {name: source.fit(x) for name, source in baseline_sources().items() if name in wanted}
