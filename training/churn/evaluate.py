"""Churn evaluation: model and baselines scored on the held-out cutoff, and champion-challenger comparison."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from training import compare as comparison
from training import metrics
from training.churn import baselines as yardsticks
from training.churn.dataset import LABEL
from training.churn.model import prepare
from training.churn.pyfunc import OUTPUT
from training.family import Dataset, Evaluation


def evaluate(model: lgb.LGBMClassifier, baselines: dict[str, Any], data: Dataset) -> Evaluation:
    """AUC, PR-AUC and the rest of the model and each baseline on `data.test`; calibration and importance plots."""
    x, y = prepare(data.test), data.test[LABEL].to_numpy()
    scores = {"model": np.asarray(model.predict_proba(x))[:, 1], **yardsticks.baseline_scores(baselines, x)}
    results = {f"{name}_{k}": v for name, p in scores.items() for k, v in metrics.binary_scores(y, p).items()}
    gains = model.booster_.feature_importance(importance_type="gain")
    figures = {
        "plots/calibration.png": metrics.calibration_figure(y, scores),
        "plots/importance.png": metrics.importance_figure(list(model.feature_name_), gains),
    }
    return Evaluation(results, data.test, figures)


def compare(client: MlflowClient, name: str, champion: str, challenger: str) -> pd.DataFrame:
    """Champion, challenger and baselines on the challenger's evaluation rows (`training.compare.binary_table`)."""
    return comparison.binary_table(client, name, champion, challenger, LABEL, OUTPUT)
