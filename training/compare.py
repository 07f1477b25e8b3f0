"""Side-by-side comparison of registered versions, for promotion, `retail models compare` and notebooks.

Everything is judged on the challenger's held-out period. A registered version is a refit that has seen its own
held-out period, so the challenger's figures are those its run logged for the evaluation fit, made without it.
The champion is judged on the same rows only if it has seen nothing of them: trained with the same as-of and
horizon (its run logged figures on the very same rows), or with an as-of no later than the challenger's
evaluation cutoff (it is rescored on the rows). Any overlap would flatter it, so the comparison is refused.
The baselines' figures are the ones the challenger's run logged on those rows.
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

from training import families, metrics, tracking
from training.family import NotComparable

log = logging.getLogger(__name__)

EVAL_SET_ARTIFACT = "evaluation/eval_set.parquet"


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


def load_version(client: MlflowClient, model: str, version: str):
    """A registered version's pyfunc, from the client's own registry whatever the process-wide URIs say."""
    return mlflow.pyfunc.load_model(client.get_model_version_download_uri(model, version))


def score_version(client: MlflowClient, model: str, version: str, frame: pd.DataFrame, output: str) -> np.ndarray:
    """Predictions of a registered version on `frame`, fed exactly the columns of its input signature."""
    loaded = load_version(client, model, version)
    columns = list(loaded.metadata.get_input_schema().input_names())
    return np.asarray(loaded.predict(frame[columns].astype("float64"))[output], dtype="float64")


def baselines(run_metrics: dict[str, float], scores: list[str]) -> list[str]:
    """Names that the run logged every one of `scores` for, other than the model and the refit."""
    names = {key.removesuffix(f"_{scores[-1]}") for key in run_metrics if key.endswith(f"_{scores[-1]}")}
    names = {n for n in names if n != "model" and not n.startswith("refit_")}
    return sorted(n for n in names if all(f"{n}_{s}" in run_metrics for s in scores))


def champion_seen_rows(client: MlflowClient, model: str, champion: str, challenger: str) -> bool:
    """True when the champion's run logged figures on the challenger's very rows (same as-of and horizon);
    False when the champion never saw them and must be rescored; `NotComparable` otherwise."""
    theirs, ours = run_of(client, model, champion).data.params, run_of(client, model, challenger).data.params
    if theirs["as_of"] == ours["as_of"] and theirs["horizon_days"] == ours["horizon_days"]:
        return True
    if pd.Timestamp(theirs["as_of"]) > pd.Timestamp(ours["eval_cutoff"]):
        raise NotComparable(
            f"champion v{champion} was trained on data up to {theirs['as_of']}, inside challenger v{challenger}'s "
            f"held-out period ({ours['eval_cutoff']} .. {ours['as_of']}): train the challenger with "
            f"--as-of {theirs['as_of']} --horizon-days {theirs['horizon_days']} to compare on the same period, "
            "or promote with --force"
        )
    return False


def logged(client: MlflowClient, model: str, version: str, name: str, columns: list[str]) -> dict[str, float]:
    """`name`'s figures as the run that registered `version` logged them."""
    run_metrics = run_of(client, model, version).data.metrics
    return {c: run_metrics.get(f"{name}_{c}", float("nan")) for c in columns}


def binary_table(
    client: MlflowClient, model: str, champion: str, challenger: str, label: str, output: str
) -> pd.DataFrame:
    """A binary classifier's comparison on the challenger's evaluation rows (see the module's rule)."""
    scores = list(metrics.BINARY_SCORES)
    rows: dict[str, dict[str, object]] = {}
    if champion_seen_rows(client, model, champion, challenger):
        rows["champion"] = {"version": champion, **logged(client, model, champion, "model", scores)}
    else:
        frame = evaluation_set(client, model, challenger)
        found = metrics.binary_scores(frame[label].to_numpy(), score_version(client, model, champion, frame, output))
        rows["champion"] = {"version": champion, **{s: found[s] for s in scores}}
    rows["challenger"] = {"version": challenger, **logged(client, model, challenger, "model", scores)}
    for name in baselines(run_of(client, model, challenger).data.metrics, scores):
        rows[name] = {"version": None, **logged(client, model, challenger, name, scores)}
    return _table(rows)


def _table(rows: dict[str, dict[str, object]]) -> pd.DataFrame:
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table


def compare_with_champion(client: MlflowClient, model: str, version: str) -> pd.DataFrame:
    """`version` against the current champion on `version`'s evaluation (the champion against itself if it is)."""
    family = families.family(model)
    champion = tracking.alias_version(client, model, tracking.CHAMPION) or str(version)
    return family.compare(client, champion, str(version))


def versions_frame(client: MlflowClient, model: str) -> pd.DataFrame:
    """Versions newest first: aliases, the family's headline metrics, evaluation cutoff and promotion notes."""
    columns = families.family(model).list_columns
    rows = [
        {
            "version": str(r.version),
            "aliases": ",".join(r.aliases),
            **{title: r.metrics.get(metric, float("nan")) for title, metric in columns.items()},
            "eval_cutoff": r.tags.get("eval_cutoff", ""),
            "promotion": r.tags.get("promotion", ""),
            "baseline_check": r.tags.get(tracking.BASELINE_TAG, ""),
        }
        for r in tracking.list_versions(client, model)
    ]
    return pd.DataFrame(rows, columns=["version", "aliases", *columns, "eval_cutoff", "promotion", "baseline_check"])
