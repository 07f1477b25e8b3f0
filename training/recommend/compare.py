"""Champion against challenger for the recommender, under the rule in `training.compare`."""

from __future__ import annotations

import logging

import pandas as pd
from mlflow import MlflowClient

from training.compare import champion_seen_rows, evaluation_set, load_version, logged
from training.recommend.evaluate import evaluate_recommender
from training.recommend.pyfunc import recommender_of

log = logging.getLogger(__name__)


def table(
    client: MlflowClient, model: str, champion: str, challenger: str, k: int, baselines: tuple[str, ...]
) -> pd.DataFrame:
    """recall@k and NDCG@k (all / never-bought) of champion, challenger and baselines on the challenger's truth."""
    columns = [f"{part}_{m}_at_{k}" for part in ("all", "new") for m in ("recall", "ndcg")]
    rows = {}
    if champion_seen_rows(client, model, champion, challenger):
        rows["champion"] = {"version": champion, **logged(client, model, champion, "model", columns)}
    else:
        recommender = recommender_of(load_version(client, model, champion), f"{model} version {champion}")
        figures = evaluate_recommender(recommender, evaluation_set(client, model, challenger), k)
        log.info("champion v%s on v%s's held-out period: %s", champion, challenger, figures)
        rows["champion"] = {"version": champion, **{c: figures[c] for c in columns}}
    rows["challenger"] = {"version": challenger, **logged(client, model, challenger, "model", columns)}
    for name in baselines:
        rows[name] = {"version": None, **logged(client, model, challenger, name, columns)}
    frame = pd.DataFrame.from_dict({r: rows[r] for r in ("champion", "challenger", *baselines)}, orient="index")
    frame.index.name = "model"
    return frame
