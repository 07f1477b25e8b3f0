"""The demand family: daily (or weekly) units per product (or product x store), P10/P50/P90.

The model is LightGBM plus, per series group, the method its own backtest favours (`choice`: LightGBM, seasonal
naive, moving average, AutoETS or a blend; never above seasonal naive on that backtest). The evaluation is a
rolling-origin backtest: that chosen combination (`model`), LightGBM alone (`lightgbm`) and the statsforecast
baselines forecast H from several origins before `T`, the last being `T - H`; headline figures are that last
origin's, `backtest_*` the mean over all of them. The registered model is refitted (and chosen again) on
everything before `T`.

Each stage lives in the module of its name (`dataset`, `model` and `choice`, `baselines`, `evaluate`, `pyfunc`,
`batch`, `adapter`); forecast storage (`storage`, `tables`, `migrations`), accuracy tracking (`accuracy`) and the
files the commands read and write (`files`) are the family's own.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow import MlflowClient

from features.catalog import DEMAND_SERVICE
from retail.workspace import Workspace
from training.demand import batch, choice, dataset, evaluate, pyfunc
from training.demand.adapter import DemandAdapter
from training.demand.baselines import BASELINES
from training.demand.options import HORIZON_DAYS, DemandOptions
from training.family import Context, Dataset, Evaluation, Family, Options, Packaged, Split


class DemandFamily(Family[DemandAdapter]):
    name = "demand"
    feature_service = DEMAND_SERVICE
    primary_metric = "wape"
    higher_is_better = False
    default_horizon_days = HORIZON_DAYS
    requirements = ("mlforecast", "statsforecast", "lightgbm", "holidays", "pandas", "numpy", "scikit-learn")
    list_columns = {
        "WAPE": "model_wape",
        "MASE": "model_mase",
        "coverage": "model_coverage",
        "LightGBM": "lightgbm_wape",
        "naive": "seasonal_naive_wape",
        "mean 28": "mean_28_wape",
        "ETS": "auto_ets_wape",
    }
    guards = tuple(("model_wape", f"{b}_wape", f"WAPE above the {b.replace('_', ' ')} baseline") for b in BASELINES)
    options_type = DemandOptions
    quick = {"horizon_days": 28, "options": DemandOptions(series=40, origins=2)}
    tiny = {"horizon_days": 14, "options": DemandOptions(series=10, origins=1)}

    def dataset(self, ctx: Context, split: Split, options: Options) -> Dataset:
        assert isinstance(options, DemandOptions)
        return dataset.for_split(ctx, split, options)

    def fit(self, ctx: Context, data: Dataset, options: Options) -> choice.Chosen:
        """LightGBM plus the method each series group gets on its own backtest (`choice.py`)."""
        return choice.fit(data.train.history, data.train.spec, ctx.settings.seed, progress=ctx.progress)

    def baselines(self, ctx: Context, data: Dataset) -> pd.DataFrame:
        s = data.train  # through the choice's cache: its backtest and the evaluation's origins share cutoffs
        return choice.baselines_at(s.history, s.spec.horizon, s.spec.freq)

    def evaluate(self, ctx: Context, model: Any, baselines: Any, data: Dataset) -> Evaluation:
        return evaluate.evaluate(ctx, model, baselines, data)

    def package(self, ctx: Context, model: Any, data: Dataset) -> Packaged:
        evaluate.log_choice(model, "choice/backtest_refit.txt")
        return pyfunc.package(model, data)

    def compare(self, client: MlflowClient, champion: str, challenger: str) -> pd.DataFrame:
        return evaluate.compare(client, self.name, champion, challenger)

    def predict(self, ctx: Context, model: Any, version: str, options: dict[str, Any]) -> pd.DataFrame:
        return batch.forecast(ctx, model, version, options)

    def adapter(self, model: Any, version: str, ws: Workspace) -> DemandAdapter:
        return DemandAdapter(model, version, ws)


FAMILY = DemandFamily()
