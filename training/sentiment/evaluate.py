"""Sentiment evaluation: the served model, VADER and the frozen encoder on the held-out reviews, a probe of short
texts about other products (`probe.csv`) and the reviews cut to their first sentence; champion-challenger tables.

Figures are accuracy, macro-F1, negative-class recall and AUC, with the confusion matrix as a figure.
"""

from __future__ import annotations

import re
import tempfile
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow import MlflowClient
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score, roc_auc_score

from training import compare as comparison
from training.family import Context, Dataset, Evaluation, NotComparable
from training.sentiment import baselines as yardsticks
from training.sentiment.dataset import LABELS, fingerprints, from_ratings
from training.sentiment.model import runtime
from training.sentiment.model.classifier import Classifier
from training.sentiment.pyfunc import TRAIN_HASHES

SCORES = ("accuracy", "macro_f1", "negative_recall", "auc")
SCORE_COLUMNS = {"model": "score", "vader": "score_vader", "frozen_encoder": "score_frozen_encoder"}


def figures(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """`p` is P(positive); a text is called positive at `p >= threshold`."""
    called = (p >= threshold).astype(int)
    single = len(np.unique(y)) < 2
    return {
        "accuracy": float(accuracy_score(y, called)),
        "macro_f1": float(f1_score(y, called, average="macro", labels=[0, 1], zero_division=0)),
        "negative_recall": float(recall_score(y, called, pos_label=0, zero_division=0)),
        "auc": float("nan") if single else float(roc_auc_score(y, p)),
    }


def confusion_figure(y: np.ndarray, p: np.ndarray, title: str, threshold: float = 0.5) -> Figure:
    """Counts of true label (rows) by predicted label (columns), annotated."""
    matrix = confusion_matrix(y, (p >= threshold).astype(int), labels=[0, 1])
    fig = Figure(figsize=(4.2, 3.8))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count:,}", ha="center", va="center", color="black" if count < matrix.max() / 2 else "white")
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=LABELS, yticklabels=LABELS, xlabel="predicted", ylabel="true")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def probe() -> pd.DataFrame:
    """Short labelled texts about other products (phones, food, furniture, delivery), written for this check."""
    with resources.files("training.sentiment").joinpath("probe.csv").open() as f:
        return from_ratings(pd.read_csv(f), "probe.csv")


def first_sentence(texts: pd.Series) -> pd.Series:
    """Each text up to its first sentence end (a review's title, where it has one); leading stops skipped."""
    return texts.map(lambda t: re.split(r"(?<=[.!?])\s", t.lstrip(" ."), maxsplit=1)[0])


def evaluate(ctx: Context, model: Classifier, baselines: yardsticks.FrozenEncoder, data: Dataset) -> Evaluation:
    """The family's evaluate stage: the model as it will be served, VADER and the frozen encoder on the held-out
    reviews (and the full-precision model's cost where the served runtime differs), their first sentences, the probe."""
    served = runtime.served(model, bool(data.params["int8"]))
    test, probe_set = data.test, probe()
    y = test["label"].to_numpy()
    ctx.progress(f"sentiment: scoring {len(test):,} held-out reviews")
    scores = {
        "model": served.scores(test["text"].tolist()),
        "vader": yardsticks.vader_scores(test["text"].tolist()),
        "frozen_encoder": baselines.scores(test["text"].tolist()),
    }
    thresholds = {"vader": yardsticks.vader_threshold()}
    results: dict[str, float] = {}
    for name, p in scores.items():
        found = figures(y, p, thresholds.get(name, 0.5))
        results |= {f"{name}_{k}": v for k, v in found.items()}
    if served is not model:  # what the served runtime costs, on the same rows
        full = figures(y, model.scores(test["text"].tolist()))
        results |= {f"full_precision_{k}": v for k, v in full.items()}
    short = first_sentence(test["text"])
    results |= _prefixed("short", figures(y, served.scores(short.tolist())))
    results |= _prefixed("short_vader", figures(y, yardsticks.vader_scores(short.tolist()), 0.525))
    p_probe = {
        "model": served.scores(probe_set["text"].tolist()),
        "vader": yardsticks.vader_scores(probe_set["text"].tolist()),
        "frozen_encoder": baselines.scores(probe_set["text"].tolist()),
    }
    for name, p in p_probe.items():
        called = p >= thresholds.get(name, 0.5)
        results[f"{name}_probe_accuracy"] = float(np.mean(called == probe_set["label"].to_numpy().astype(bool)))
    results |= per_source(test, scores, thresholds)
    eval_set = test.assign(**{SCORE_COLUMNS[name]: p for name, p in scores.items()})
    plots = {
        "plots/confusion_model.png": confusion_figure(y, scores["model"], "fine-tuned MiniLM"),
        "plots/confusion_vader.png": confusion_figure(y, scores["vader"], "VADER", thresholds["vader"]),
    }
    return Evaluation(results, eval_set, plots)


def source_key(name: str) -> str:
    """The metric prefix of a source's figures: `source_<name>_` with anything but letters, digits, `.` and `-`
    made `_` (a source is a file's name, or its path where two files share one)."""
    return "source_" + re.sub(r"[^\w.-]", "_", name) + "_"


def per_source(test: pd.DataFrame, scores: dict[str, np.ndarray], thresholds: dict[str, float]) -> dict[str, float]:
    """Each source's figures on its own held-out rows (`source_<name>_model_accuracy`, ...), its rows and the
    majority class's share; nothing where the rows carry no source (the workspace's reviews)."""
    if "source" not in test:
        return {}
    results: dict[str, float] = {}
    sources = test["source"].to_numpy()
    for name in pd.unique(sources):
        rows = np.flatnonzero(sources == name)
        y = test["label"].to_numpy()[rows]
        key = source_key(str(name))
        results[f"{key}rows"] = float(len(rows))
        results[f"{key}majority_accuracy"] = max(float(y.mean()), 1 - float(y.mean()))
        for model, p in scores.items():
            results |= _prefixed(f"{key}{model}", figures(y, p[rows], thresholds.get(model, 0.5)))
    return results


def _prefixed(prefix: str, found: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in found.items()}


def compare(client: MlflowClient, name: str, champion: str, challenger: str) -> pd.DataFrame:
    """Both on the challenger's held-out reviews, less any text only the champion trained on."""
    frame = comparison.evaluation_set(client, name, challenger)
    hashes = fingerprints(frame["text"])
    # a text the champion trained on flatters it, unless the challenger trained on the same text too
    unfair = np.isin(hashes, _train_hashes(client, name, champion)) & ~np.isin(
        hashes, _train_hashes(client, name, challenger)
    )
    fresh = frame[~unfair].reset_index(drop=True)
    if len(fresh) < max(20, len(frame) // 2):
        raise NotComparable(
            f"champion v{champion} trained on {len(frame) - len(fresh):,} of challenger v{challenger}'s "
            f"{len(frame):,} held-out reviews: too few unseen ones to compare fairly"
        )
    y = fresh["label"].to_numpy()
    champion_scores = comparison.load_version(client, name, champion).predict(fresh[["text"]])["score"]
    rows: dict[str, dict[str, Any]] = {
        "champion": {"version": champion, **figures(y, np.asarray(champion_scores, dtype=float))}
    }
    rows["challenger"] = {"version": challenger, **figures(y, fresh["score"].to_numpy())}
    for baseline, column in SCORE_COLUMNS.items():
        if baseline != "model" and column in fresh:
            threshold = yardsticks.vader_threshold() if baseline == "vader" else 0.5
            rows[baseline] = {"version": None, **figures(y, fresh[column].to_numpy(), threshold)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table.assign(rows=len(fresh))


def _train_hashes(client: MlflowClient, model: str, version: str) -> np.ndarray:
    run = comparison.run_of(client, model, version)
    with tempfile.TemporaryDirectory() as tmp:
        return pd.read_parquet(client.download_artifacts(run.info.run_id, TRAIN_HASHES, tmp))["hash"].to_numpy()
