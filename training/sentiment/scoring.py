"""Sentiment figures: accuracy, macro-F1, negative-class recall, and the confusion matrix as a figure."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score, roc_auc_score

from training.sentiment.data import LABELS

SCORES = ("accuracy", "macro_f1", "negative_recall", "auc")


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
