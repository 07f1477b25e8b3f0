"""Side-by-side comparison of a registered version with the champion, for notebooks and reviews.

Both models are scored on the same rows: the evaluation set logged by the run that produced the version under
review. The baselines' figures are the ones that run logged on those rows, so every line of the table compares.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Run

from training import metrics, tracking

log = logging.getLogger(__name__)

SCORES = ["auc", "pr_auc", "brier"]
EVAL_SET_ARTIFACT = "evaluation/eval_set.parquet"
# per model: the label column of its logged evaluation set and the model's output column
EVALUATIONS = {"churn": ("churned", "churn_probability")}


def run_of(client: MlflowClient, model: str, version: str) -> Run:
    """The run that registered `version` (every version of ours comes from one)."""
    run_id = client.get_model_version(model, version).run_id
    if not run_id:
        raise ValueError(f"{model} version {version} was not registered from a run: it has no evaluation set")
    return client.get_run(run_id)


def log_evaluation_set(frame: pd.DataFrame) -> None:
    """Log a run's evaluation rows as parquet (exact floats, unlike a JSON table), for later comparisons."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(EVAL_SET_ARTIFACT).name
        frame.to_parquet(path, index=False)
        mlflow.log_artifact(str(path), str(Path(EVAL_SET_ARTIFACT).parent))


def evaluation_set(client: MlflowClient, model: str, version: str) -> pd.DataFrame:
    """The evaluation rows (features and label) logged by the run that registered `version`."""
    run = run_of(client, model, version)
    with tempfile.TemporaryDirectory() as tmp:
        return pd.read_parquet(Path(client.download_artifacts(run.info.run_id, EVAL_SET_ARTIFACT, tmp)))


def score_version(client: MlflowClient, model: str, version: str, frame: pd.DataFrame, output: str) -> np.ndarray:
    """Predictions of a registered version on `frame`, fed exactly the columns of its input signature.

    The model loads from the client's own registry, whatever the process-wide MLflow URIs point at.
    """
    loaded = mlflow.pyfunc.load_model(client.get_model_version_download_uri(model, version))
    columns = list(loaded.metadata.get_input_schema().input_names())
    return np.asarray(loaded.predict(frame[columns].astype("float64"))[output], dtype="float64")


def _baselines(run_metrics: dict[str, float]) -> list[str]:
    """Names that the run logged a full set of scores for, other than the model itself."""
    names = {key.removesuffix("_brier") for key in run_metrics if key.endswith("_brier")}
    return sorted(n for n in names - {"model"} if all(f"{n}_{s}" in run_metrics for s in SCORES))


def compare_with_champion(client: MlflowClient, model: str, version: str) -> pd.DataFrame:
    """AUC, PR-AUC and Brier of the champion, `version` and the baselines on `version`'s evaluation set.

    Rows are `champion` (absent when there is none, or when `version` is the champion), `new` and one per
    baseline; columns `version` (None for baselines) and the scores. A champion trained for another horizon is
    compared all the same, with a warning, since its probabilities then answer a different question.
    """
    if model not in EVALUATIONS:
        raise ValueError(f"unknown model {model!r}: choose one of {', '.join(EVALUATIONS)}")
    label, output = EVALUATIONS[model]
    version = str(version)
    frame = evaluation_set(client, model, version)
    y = frame[label].to_numpy()
    found = tracking.alias_version(client, model, tracking.CHAMPION)
    champion = "" if found is None else str(found)  # MLflow hands versions back as int or str
    models = {"new": version} if champion in ("", version) else {"champion": champion, "new": version}
    run = run_of(client, model, version)
    if "champion" in models:
        theirs = run_of(client, model, champion).data.params.get("horizon_days")
        ours = run.data.params.get("horizon_days")
        if theirs != ours:
            log.warning("champion v%s has a %s-day horizon, v%s a %s-day one", champion, theirs, version, ours)
    rows: dict[str, dict[str, object]] = {}
    for role, v in models.items():
        scores = metrics.binary_scores(y, score_version(client, model, v, frame, output))
        rows[role] = {"version": v, **{s: scores[s] for s in SCORES}}
    run_metrics = run.data.metrics
    for name in _baselines(run_metrics):
        rows[name] = {"version": None, **{s: run_metrics[f"{name}_{s}"] for s in SCORES}}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    log.info("%s v%s compared on %d evaluation rows", model, version, len(frame))
    return table


def versions_frame(client: MlflowClient, model: str) -> pd.DataFrame:
    """`tracking.list_versions` as a table: version, aliases and the headline metrics of each run."""
    rows = [
        {
            "version": str(r.version),
            "aliases": ",".join(r.aliases),
            **{s: r.metrics.get(f"model_{s}", float("nan")) for s in SCORES},
            "eval_cutoff": r.tags.get("eval_cutoff", ""),
            "promotion": r.tags.get("promotion", ""),
        }
        for r in tracking.list_versions(client, model)
    ]
    return pd.DataFrame(rows, columns=["version", "aliases", *SCORES, "eval_cutoff", "promotion"])
