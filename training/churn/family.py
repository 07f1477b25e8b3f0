"""The churn family: P(no purchase in the next H days) per customer, LightGBM on point-in-time Feast features.

Each stage lives in the module of its name (`dataset`, `model`, `baselines`, `evaluate`, `pyfunc`, `batch`,
`adapter`); this class declares the family and hands each stage its rows.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import pandas as pd
from mlflow import MlflowClient

from features.catalog import CHURN_SERVICE
from retail.workspace import Workspace
from training import inputs
from training.churn import baselines, batch, dataset, evaluate, model, pyfunc
from training.churn.adapter import ChurnAdapter, newest_event_day
from training.churn.options import HORIZON_DAYS, ChurnOptions
from training.family import Context, Dataset, Evaluation, Family, Options, Packaged, Split


def _options(options: Options) -> ChurnOptions:
    assert isinstance(options, ChurnOptions)
    return options


class ChurnFamily(Family[ChurnAdapter]):
    name = "churn"
    feature_service = CHURN_SERVICE
    primary_metric = "auc"
    default_horizon_days = HORIZON_DAYS
    requirements = ("lightgbm", "pandas", "scikit-learn", "numpy")
    list_columns = {"AUC": "model_auc", "PR-AUC": "model_pr_auc", "recency": "recency_auc", "RFM": "rfm_logistic_auc"}
    guards = (
        ("model_auc", "recency_auc", "AUC below the recency-only baseline"),
        ("model_auc", "rfm_logistic_auc", "AUC below the RFM logistic baseline"),
    )
    options_type = ChurnOptions
    quick = {"horizon_days": 60, "options": ChurnOptions(cutoffs=8)}
    tiny = {"horizon_days": 28, "options": ChurnOptions(cutoffs=2)}

    def check_inputs(self, ctx: Context, options: Options) -> None:
        inputs.require_customer_ids(ctx.tx, "training churn (who stops buying)")

    def dataset(self, ctx: Context, split: Split, options: Options) -> Dataset:
        return dataset.for_split(ctx, split, _options(options))

    def fit(self, ctx: Context, data: Dataset, options: Options) -> lgb.LGBMClassifier:
        return model.fit(ctx, data, _options(options))

    def baselines(self, ctx: Context, data: Dataset) -> dict[str, Any]:
        return baselines.fit(data)

    def evaluate(self, ctx: Context, model: Any, baselines: Any, data: Dataset) -> Evaluation:
        return evaluate.evaluate(model, baselines, data)

    def package(self, ctx: Context, model: Any, data: Dataset) -> Packaged:
        return pyfunc.package(model, data)

    def compare(self, client: MlflowClient, champion: str, challenger: str) -> pd.DataFrame:
        return evaluate.compare(client, self.name, champion, challenger)

    def predict(self, ctx: Context, model: Any, version: str, options: dict[str, Any]) -> pd.DataFrame:
        """customer_id, churn_probability, risk_band and the top drivers for every customer known before as_of."""
        return batch.predict(ctx, model, version, options)

    def adapter(self, model: Any, version: str, ws: Workspace) -> ChurnAdapter:
        return ChurnAdapter(model, version, reference_day=newest_event_day(ws))


FAMILY = ChurnFamily()
