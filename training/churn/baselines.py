"""The churn yardsticks every model must beat: recency-only and RFM logistic regressions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from training.churn.dataset import LABEL
from training.churn.model import prepare
from training.family import Dataset


def _logistic(columns: pd.DataFrame, y: np.ndarray):
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return pipe.fit(columns, y)


def _recency_columns(x: pd.DataFrame) -> pd.DataFrame:
    return np.log1p(x[["recency_days"]].fillna(x["recency_days"].max()).clip(lower=0))


def _rfm_columns(x: pd.DataFrame) -> pd.DataFrame:
    rfm = x[["recency_days", "orders_total", "spend_total"]].fillna(0).clip(lower=0)
    return np.log1p(rfm)


def fit_baselines(x: pd.DataFrame, y: np.ndarray) -> dict[str, Any]:
    """Recency-only and RFM logistic regressions, the yardsticks every churn model must beat."""
    return {"recency": _logistic(_recency_columns(x), y), "rfm_logistic": _logistic(_rfm_columns(x), y)}


def baseline_scores(baselines: dict[str, Any], x: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        "recency": baselines["recency"].predict_proba(_recency_columns(x))[:, 1],
        "rfm_logistic": baselines["rfm_logistic"].predict_proba(_rfm_columns(x))[:, 1],
    }


def fit(data: Dataset) -> dict[str, Any]:
    """The family's baselines stage: both yardsticks on the same training rows as the model."""
    return fit_baselines(prepare(data.train), data.train[LABEL].to_numpy())
