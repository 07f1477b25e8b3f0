"""The demand family: daily (or weekly) units per product (or product x store), P10/P50/P90.

The evaluation is a rolling-origin backtest: the model and the statsforecast baselines forecast H from several
origins before `T`, the last being `T - H`; headline figures are that last origin's, `backtest_*` the mean over
all of them. The registered model is refitted on everything before `T`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from pydantic import Field

from features.catalog import DEMAND_SERVICE
from retail.workspace import Workspace
from training import compare
from training.demand import forecaster, scoring, series
from training.demand.model import INPUT, DemandModel
from training.family import Context, Dataset, Evaluation, Family, NotComparable, Options, Packaged, Split

log = logging.getLogger(__name__)
SCORES = ["wape", "mase", "coverage", "pinball", "bias"]


class DemandOptions(Options):
    freq: Literal["D", "W"] = Field(default="D", description="Daily or weekly series.")
    level: Literal["product", "product_store"] = Field(default="product", description="Series per product or store.")
    series: int = Field(default=500, ge=1, description="Fit on this many series with the most units.")
    origins: int = Field(default=3, ge=1, description="Backtest origins, H apart, the last at T - H.")
    country: str | None = Field(default=None, description="Holiday country (default: the settings').")


@dataclass
class Series:
    """One fit's series, how to model them, and (for the evaluation) the backtest origins."""

    history: pd.DataFrame
    spec: forecaster.Spec
    level: str
    origins: list[pd.Timestamp]


def periods(horizon: pd.Timedelta, freq: str) -> int:
    if freq == "W":
        if horizon.days % 7:
            raise ValueError(f"weekly forecasts need --horizon-days in whole weeks, got {horizon.days}")
        return horizon.days // 7
    return horizon.days


class DemandFamily(Family):
    name = "demand"
    feature_service = DEMAND_SERVICE
    primary_metric = "wape"
    higher_is_better = False
    default_horizon_days = 28
    requirements = ("mlforecast", "statsforecast", "lightgbm", "holidays", "pandas", "numpy", "scikit-learn")
    list_columns = {
        "WAPE": "model_wape",
        "MASE": "model_mase",
        "coverage": "model_coverage",
        "mean 28": "mean_28_wape",
        "ETS": "auto_ets_wape",
    }
    guards = tuple(
        ("model_wape", f"{b}_wape", f"WAPE above the {b.replace('_', ' ')} baseline") for b in scoring.BASELINES
    )
    options_type = DemandOptions
    quick = {"horizon_days": 28, "options": DemandOptions(series=40, origins=2)}

    def dataset(self, ctx: Context, split: Split, options: Options) -> Dataset:
        assert isinstance(options, DemandOptions)
        h = periods(split.horizon, options.freq)
        spec = forecaster.Spec(options.freq, h, options.country or ctx.settings.holiday_country)
        sales = series.read_sales(ctx.ws, options.level)
        ids = series.top_series(sales, split.train_end, options.series)
        end = split.test_end or split.train_end
        history = series.frame(sales, series.read_attributes(ctx.ws), end, options.freq, ids)
        cut = series.period_end(split.train_end, options.freq)  # whole weeks only, for weekly series
        origins = [cut - split.horizon * k for k in reversed(range(options.origins))]
        train = history[history["ds"] < cut]
        params: dict[str, Any] = {"series": history["unique_id"].nunique(), "train_rows": len(train)}
        test = None
        if split.test_end is not None:
            test = history[history["ds"] >= cut]
            params |= {"origins": ",".join(f"{o:%Y-%m-%d}" for o in origins), "eval_rows": len(test)}
        return Dataset(split, Series(train, spec, options.level, origins), test, params)

    def fit(self, ctx: Context, data: Dataset, options: Options) -> forecaster.Forecaster:
        return forecaster.fit(data.train.history, data.train.spec, ctx.settings.seed)

    def baselines(self, ctx: Context, data: Dataset) -> pd.DataFrame:
        spec = data.train.spec
        return scoring.baseline_forecasts(data.train.history, spec.horizon, spec.freq)

    def evaluate(self, ctx: Context, model: Any, baselines: Any, data: Dataset) -> Evaluation:
        s: Series = data.train
        history = pd.concat([s.history, data.test], ignore_index=True)
        per_origin, last_rows = [], pd.DataFrame()
        for origin in s.origins:
            ctx.progress(f"demand: backtest from {origin:%Y-%m-%d}")
            past = history[history["ds"] < origin]
            is_last = origin == s.origins[-1]
            fitted = model if is_last else forecaster.fit(past, s.spec, ctx.settings.seed)
            base = baselines if is_last else scoring.baseline_forecasts(past, s.spec.horizon, s.spec.freq)
            rows = _rows(history, past, fitted, base, s.spec.horizon)
            per_origin.append(scoring.scores(rows, past, s.spec.freq, ["model", *scoring.BASELINES]))
            if is_last:
                last_rows = rows
        results = dict(per_origin[-1])
        results |= {f"backtest_{k}": float(np.mean([o[k] for o in per_origin])) for k in per_origin[-1]}
        origin = s.origins[-1]
        past = history[history["ds"] < origin]
        categories = scoring.by_category(last_rows, past, s.spec.freq, ["model", *scoring.BASELINES])
        results |= {
            f"by_category/{_metric_name(c)}/{k}": v for c, figures in categories.items() for k, v in figures.items()
        }
        figures = {"plots/forecast_vs_actual.png": scoring.forecast_figure(past, last_rows)}
        context_rows = history[(history["ds"] < origin) & (history["ds"] >= origin - _context(s.spec))]
        eval_set = pd.concat([context_rows.assign(part="history"), last_rows.assign(part="test")], ignore_index=True)
        return Evaluation(results, eval_set, figures)

    def package(self, ctx: Context, model: forecaster.Forecaster, data: Dataset) -> Packaged:
        s: Series = data.train
        pyfunc = DemandModel(model, s.level)
        ids = s.history["unique_id"].drop_duplicates().head(2)
        example = s.history[s.history["unique_id"].isin(ids)].groupby("unique_id").tail(120)[INPUT]
        example = example.assign(category=example["category"].astype(str), tier=example["tier"].astype(str))
        output = pyfunc.predict(None, example, {"horizon": s.spec.horizon})
        return Packaged(
            pyfunc,
            infer_signature(example, output, params={"horizon": s.spec.horizon}),
            example,
            metrics={"train_rows": float(len(s.history)), "series": float(s.history["unique_id"].nunique())},
            params={
                "freq": s.spec.freq,
                "level": s.level,
                "horizon_periods": s.spec.horizon,
                "country": s.spec.country,
            },
            metadata={"freq": s.spec.freq, "level": s.level, "horizon_periods": s.spec.horizon},
        )

    def compare(self, client: MlflowClient, champion: str, challenger: str) -> pd.DataFrame:
        rows: dict[str, dict[str, object]] = {}
        if compare.champion_seen_rows(client, self.name, champion, challenger):
            rows["champion"] = {"version": champion, **compare.logged(client, self.name, champion, "model", SCORES)}
        else:
            rows["champion"] = {"version": champion, **_rescore(client, champion, challenger)}
        rows["challenger"] = {"version": challenger, **compare.logged(client, self.name, challenger, "model", SCORES)}
        for name in scoring.BASELINES:
            rows[name] = {"version": None, **compare.logged(client, self.name, challenger, name, SCORES)}
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "model"
        return table

    def predict(self, ctx: Context, model: Any, version: str, options: dict[str, Any]) -> pd.DataFrame:
        from training.demand import batch

        return batch.forecast(ctx, model, version, options)

    def adapter(self, model: Any, version: str, ws: Workspace) -> Any:
        from training.demand.adapter import DemandAdapter

        return DemandAdapter(model, version, ws)


def _metric_name(text: str) -> str:
    return re.sub(r"[^\w\-. ]", "_", text)


def _context(spec: forecaster.Spec) -> pd.Timedelta:
    """History a rescoring needs before an origin: the longest lag window, twice over."""
    return pd.Timedelta(days=120 if spec.freq == "D" else 7 * 40)


def _rows(
    history: pd.DataFrame, past: pd.DataFrame, fitted: forecaster.Forecaster, base: pd.DataFrame, h: int
) -> pd.DataFrame:
    """Truth for the `h` periods after `past` with the model's quantiles and every baseline's P50."""
    pred = fitted.forecast(past, h).rename(columns={"p50": "model", "p10": "model_p10", "p90": "model_p90"})
    truth = history[history["ds"] > past["ds"].max()][["unique_id", "ds", "y", "category"]]
    rows = truth.merge(pred, on=["unique_id", "ds"]).merge(base, on=["unique_id", "ds"], how="left")
    return rows.fillna({b: 0.0 for b in scoring.BASELINES})


def _rescore(client: MlflowClient, champion: str, challenger: str) -> dict[str, float]:
    """The champion forecasting the challenger's held-out period from the history logged with it."""
    frame = compare.evaluation_set(client, "demand", challenger)
    past, test = frame[frame["part"] == "history"], frame[frame["part"] == "test"]
    loaded = compare.load_version(client, "demand", champion)
    inner = loaded.unwrap_python_model()
    if not isinstance(inner, DemandModel):
        raise NotComparable(f"demand v{champion} is not a demand pyfunc of this code")
    h = int(test.groupby("unique_id").size().max())
    pred = inner.forecaster.forecast(past[INPUT], h)
    rows = test[["unique_id", "ds", "y"]].merge(pred, on=["unique_id", "ds"])
    rows = rows.rename(columns={"p50": "model", "p10": "model_p10", "p90": "model_p90"})
    found = scoring.scores(rows, past, inner.spec.freq, ["model"])
    return {s: found.get(f"model_{s}", float("nan")) for s in SCORES}


FAMILY = DemandFamily()
