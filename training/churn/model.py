"""The churn model: preprocessing, LightGBM fit, baselines and the MLflow pyfunc that carries them."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from features.catalog import CUSTOMER_FEATURES

MODEL_INPUT = ["as_of_day", *CUSTOMER_FEATURES]
ABSOLUTE_DAYS = ("first_purchase_day", "last_purchase_day")
MODEL_FEATURES = [
    "recency_days",
    "tenure_days",
    "recency_over_gap",
    "orders_per_month",
    *(n for n in CUSTOMER_FEATURES if n not in ABSOLUTE_DAYS),
]
# Shallow, strongly regularised trees: churn patterns shift between seasons, so simple rules transfer best.
DEFAULT_PARAMS: dict[str, Any] = {
    "n_estimators": 300,
    "learning_rate": 0.03,
    "num_leaves": 4,
    "min_child_samples": 100,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
}


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Model features from Feast columns: dates become ages relative to the scoring day."""
    missing = [c for c in MODEL_INPUT if c not in frame.columns]
    if missing:
        raise ValueError(f"churn model input lacks columns: {', '.join(missing)}")
    x = frame[list(CUSTOMER_FEATURES)].astype("float64").copy()
    as_of = frame["as_of_day"].astype("float64")
    x["recency_days"] = as_of - x.pop("last_purchase_day")
    x["tenure_days"] = as_of - x.pop("first_purchase_day")
    # how overdue the next purchase is, given the customer's own rhythm
    x["recency_over_gap"] = x["recency_days"] / x["gap_mean_days"].clip(lower=1)
    x["orders_per_month"] = x["orders_total"] / (x["tenure_days"].clip(lower=0) / 30 + 1)
    return x[MODEL_FEATURES]


def fit_lgbm(x: pd.DataFrame, y: np.ndarray, params: dict[str, Any] | None = None, seed: int = 0):
    model = lgb.LGBMClassifier(**(DEFAULT_PARAMS | (params or {})), random_state=seed, verbose=-1, n_jobs=2)
    return model.fit(x, y)


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


class ChurnModel(PythonModel):
    """Feast customer features + as_of_day in, churn_probability out."""

    def __init__(self, classifier: lgb.LGBMClassifier, feature_service: str) -> None:
        self.classifier = classifier
        self.feature_service = feature_service
        self.input_columns = MODEL_INPUT

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        p = np.asarray(self.classifier.predict_proba(prepare(model_input)))[:, 1]
        return pd.DataFrame({"churn_probability": p})
