"""Classification metrics and plots shared by the model families."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

BINARY_SCORES = ("auc", "pr_auc", "brier")  # what comparisons of binary classifiers report


def binary_scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUC, PR-AUC and Brier score; AUC is undefined (nan) when only one class is present."""
    single = len(np.unique(y)) < 2
    return {
        "auc": float("nan") if single else float(roc_auc_score(y, p)),
        "pr_auc": float("nan") if single else float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "positive_rate": float(np.mean(y)),
    }


def calibration_figure(y: np.ndarray, scores: dict[str, np.ndarray]) -> Figure:
    """Reliability curves, one per model, against the diagonal (a bare Figure: no pyplot state, no backend)."""
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect")
    for name, p in scores.items():
        frac, mean = calibration_curve(y, p, n_bins=10, strategy="quantile")
        ax.plot(mean, frac, marker="o", label=name)
    ax.set(xlabel="predicted probability", ylabel="observed frequency", title="Calibration")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def importance_figure(names: list[str], gains: np.ndarray, top: int = 20) -> Figure:
    """Horizontal bar chart of the largest gain importances."""
    order = np.argsort(gains)[::-1][:top][::-1]
    fig = Figure(figsize=(6, 0.3 * len(order) + 1))
    ax = fig.subplots()
    ax.barh([names[i] for i in order], gains[order])
    ax.set(xlabel="total gain", title="Feature importance")
    fig.tight_layout()
    return fig
