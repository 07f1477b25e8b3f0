"""The registered churn pyfunc: Feast customer columns in; churn probability and its drivers out."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel

from features.catalog import CHURN_SERVICE
from training import metrics
from training.churn.dataset import LABEL
from training.churn.drivers import contributions, phrases
from training.churn.model import MODEL_INPUT, prepare
from training.family import Dataset, Packaged

OUTPUT = "churn_probability"


class ChurnModel(PythonModel):
    """Feast customer features + as_of_day in; churn_probability and its top drivers (phrases) out."""

    def __init__(self, classifier: lgb.LGBMClassifier, feature_service: str) -> None:
        self.classifier = classifier
        self.feature_service = feature_service
        self.input_columns = MODEL_INPUT

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        # the classifier's own columns: versions registered before a feature was added keep scoring
        x = prepare(model_input)[list(self.classifier.feature_name_)]
        contrib = contributions(self.classifier, x)
        # SHAP values sum to the raw score: one pass over the trees gives both the probability and the drivers
        p = 1.0 / (1.0 + np.exp(-contrib.sum(axis=1)))
        return pd.DataFrame({"churn_probability": p, "drivers": phrases(contrib, x)})


def package(model: lgb.LGBMClassifier, data: Dataset) -> Packaged:
    """The family's package stage: the pyfunc with its signature, an input example and in-sample figures."""
    pyfunc = ChurnModel(model, CHURN_SERVICE)
    example = data.train[MODEL_INPUT].tail(5).astype("float64")
    p = np.asarray(model.predict_proba(prepare(data.train)))[:, 1]
    in_sample = metrics.binary_scores(data.train[LABEL].to_numpy(), p)
    return Packaged(
        pyfunc,
        infer_signature(example, pyfunc.predict(None, example)),
        example,
        metrics={"train_auc": in_sample["auc"], "train_rows": float(len(data.train))},
        metadata={"features": MODEL_INPUT},
    )
