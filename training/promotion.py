"""Champion/challenger promotion: both versions are scored on the challenger's own evaluation set."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mlflow import MlflowClient

from training import compare, metrics, tracking
from training.compare import EVALUATIONS

log = logging.getLogger(__name__)


@dataclass
class Decision:
    promoted: bool
    champion: str
    challenger: str | None
    champion_score: float | None = None
    challenger_score: float | None = None
    reason: str = ""
    metric: str = "AUC"


def _auc_on(client: MlflowClient, model: str, version: str, eval_set, label: str, output: str) -> float:
    scores = compare.score_version(client, model, version, eval_set, output)
    return metrics.binary_scores(eval_set[label].to_numpy(), scores)["auc"]


PROMOTABLE = (*EVALUATIONS, "recommender")


def _scores(client: MlflowClient, model: str, champion: str, challenger: str) -> tuple[float, float, str]:
    """(champion, challenger, metric name): each model family judged on the challenger's own evaluation."""
    if model == "recommender":
        from training.recommend import compare as recommend_compare

        return (*recommend_compare.scores(client, model, champion, challenger), "recall@10")
    eval_set = compare.evaluation_set(client, model, challenger)
    label, output = EVALUATIONS[model]
    champ = _auc_on(client, model, champion, eval_set, label, output)
    chall = _auc_on(client, model, challenger, eval_set, label, output)
    return champ, chall, "AUC"


def promote(client: MlflowClient, model: str, force: bool = False) -> Decision:
    """Move @champion to @challenger if it scores higher on the same evaluation rows (or with force)."""
    if model not in PROMOTABLE:
        raise ValueError(f"unknown model {model!r}: choose one of {', '.join(PROMOTABLE)}")
    champion = tracking.alias_version(client, model, tracking.CHAMPION)
    challenger = tracking.alias_version(client, model, tracking.CHALLENGER)
    if challenger is None:
        if champion is None:
            raise ValueError(f"{model} has no registered versions: train one first")
        return Decision(False, champion, None, reason="no @challenger to compare; train a new version first")
    if champion is None or force:
        reason = "forced" if force else "no champion yet"
        tracking.move_champion(client, model, challenger, reason, forced=str(force).lower())
        return Decision(True, challenger, None, reason=reason)
    champ, chall, metric = _scores(client, model, champion, challenger)
    log.info(
        "%s on v%s's evaluation: champion v%s %s %.4f, challenger %.4f",
        model,
        challenger,
        champion,
        metric,
        champ,
        chall,
    )
    if chall > champ:
        tracking.move_champion(
            client, model, challenger, "beat champion", champion_score=f"{champ:.4f}", challenger_score=f"{chall:.4f}"
        )
        return Decision(True, challenger, None, champ, chall, "challenger beat champion", metric)
    return Decision(False, champion, challenger, champ, chall, "challenger did not beat champion", metric)
