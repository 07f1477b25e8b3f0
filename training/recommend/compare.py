"""Champion against challenger for the recommender, on the challenger's held-out period.

A registered recommender is refitted on everything before its `as_of`, so it has seen its own held-out period;
its run's figures come from the identical fit made without those days. The champion is scored on the
challenger's truth rows only when it has seen nothing of them: the same `as_of` (its run's figures are then on
the very same rows) or an `as_of` no later than the challenger's evaluation cutoff (the registered champion is
scored on the rows directly). Any overlap would flatter the champion, so it is refused.
"""

from __future__ import annotations

import logging

import mlflow.pyfunc
import pandas as pd
from mlflow import MlflowClient

from training.compare import evaluation_set, run_of
from training.recommend.holdout import evaluate_recommender
from training.recommend.pyfunc import recommender_of
from training.recommend.train import K

log = logging.getLogger(__name__)
METRIC = f"model_all_recall_at_{K}"


class NotComparable(ValueError):
    """The champion has seen the challenger's held-out period."""


def _run_facts(client: MlflowClient, model: str, version: str) -> tuple[dict[str, str], dict[str, float]]:
    run = run_of(client, model, version)
    return dict(run.data.params), dict(run.data.metrics)


def scores(client: MlflowClient, model: str, champion: str, challenger: str) -> tuple[float, float]:
    """recall@10 on all products of (champion, challenger) over the challenger's held-out truth."""
    theirs, their_metrics = _run_facts(client, model, champion)
    ours, our_metrics = _run_facts(client, model, challenger)
    if theirs["as_of"] == ours["as_of"] and theirs["horizon_days"] == ours["horizon_days"]:
        return their_metrics[METRIC], our_metrics[METRIC]
    if pd.Timestamp(theirs["as_of"]) > pd.Timestamp(ours["eval_cutoff"]):
        raise NotComparable(
            f"champion v{champion} was trained on data up to {theirs['as_of']}, inside challenger v{challenger}'s "
            f"held-out period ({ours['eval_cutoff']} .. {ours['as_of']}): train the challenger with "
            f"--as-of {theirs['as_of']} to compare on the same period, or promote with --force"
        )
    loaded = mlflow.pyfunc.load_model(client.get_model_version_download_uri(model, champion))
    recommender = recommender_of(loaded, f"{model} version {champion}")
    figures = evaluate_recommender(recommender, evaluation_set(client, model, challenger), K)
    log.info("champion v%s on v%s's held-out period: %s", champion, challenger, figures)
    return figures[f"all_recall_at_{K}"], our_metrics[METRIC]
