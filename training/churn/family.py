"""The churn family: P(no purchase in the next H days) per customer, LightGBM on point-in-time Feast features."""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import optuna
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from pydantic import Field

from features.catalog import CHURN_SERVICE
from retail.workspace import Workspace
from training import compare, inputs, metrics, tuning
from training.churn import dataset
from training.churn.adapter import ChurnAdapter, newest_event_day
from training.churn.model import MODEL_INPUT, ChurnModel, baseline_scores, fit_baselines, fit_lgbm, prepare
from training.family import Context, Dataset, Evaluation, Family, Options, Packaged, Split
from training.splits import plan_cutoffs

log = logging.getLogger(__name__)
LABEL, OUTPUT = "churned", "churn_probability"


class ChurnOptions(Options):
    cutoffs: int = Field(default=20, ge=1, description="Weekly training cutoffs.")
    step_days: int = Field(default=7, ge=1, description="Days between training cutoffs.")
    tune: int = Field(default=0, ge=0, description="Optuna trials (nested MLflow runs); 0 = defaults.")


def _suggest(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 63, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 10, 200, log=True),
        "n_estimators": trial.suggest_int("n_estimators", 100, 800, step=100),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
    }


def _tune(train: pd.DataFrame, n_trials: int, seed: int) -> dict[str, Any]:
    """Validate on the latest training cutoff with a model fitted on the earlier ones (never the eval set)."""
    last = train["cutoff"].max()
    fit_part, val_part = train[train["cutoff"] < last], train[train["cutoff"] == last]
    if fit_part.empty:  # a single training cutoff: hold out a fifth of its customers instead
        val_part = train.sample(frac=0.2, random_state=seed)
        fit_part = train.drop(val_part.index)
    x_fit, x_val = prepare(fit_part), prepare(val_part)

    def score(params: dict[str, Any]) -> float:
        model = fit_lgbm(x_fit, fit_part[LABEL].to_numpy(), params, seed)
        return metrics.binary_scores(val_part[LABEL].to_numpy(), model.predict_proba(x_val)[:, 1])["auc"]

    return tuning.search(n_trials, _suggest, score, seed=seed)


class ChurnFamily(Family):
    name = "churn"
    feature_service = CHURN_SERVICE
    primary_metric = "auc"
    default_horizon_days = 90
    requirements = ("lightgbm", "pandas", "scikit-learn", "numpy")
    list_columns = {"AUC": "model_auc", "PR-AUC": "model_pr_auc", "recency": "recency_auc", "RFM": "rfm_logistic_auc"}
    guards = (
        ("model_auc", "recency_auc", "AUC below the recency-only baseline"),
        ("model_auc", "rfm_logistic_auc", "AUC below the RFM logistic baseline"),
    )
    options_type = ChurnOptions
    quick = {"horizon_days": 60, "options": ChurnOptions(cutoffs=8)}

    def check_inputs(self, ctx: Context, options: Options) -> None:
        inputs.require_customer_ids(ctx.tx, "training churn (who stops buying)")

    def dataset(self, ctx: Context, split: Split, options: Options) -> Dataset:
        assert isinstance(options, ChurnOptions)
        horizon_days = split.horizon.days
        plan = plan_cutoffs(
            split.train_end + split.horizon, horizon_days, options.cutoffs, options.step_days, ctx.tx["ts"].min()
        )
        ctx.progress(f"churn training cutoffs {plan.train[0]:%Y-%m-%d} .. {plan.train[-1]:%Y-%m-%d}")
        train = dataset.build(ctx.ws, ctx.tx, plan.train, plan.horizon)
        if train[LABEL].nunique() < 2:
            raise ValueError("training labels have a single class: more history or a different horizon is needed")
        params: dict[str, Any] = {
            "train_cutoffs": ",".join(f"{c:%Y-%m-%d}" for c in plan.train),
            "train_rows": len(train),
        }
        test = None
        if split.test_end is not None:
            test = dataset.build(ctx.ws, ctx.tx, [split.train_end], plan.horizon)
            params["eval_rows"] = len(test)
        return Dataset(split, train, test, params)

    def fit(self, ctx: Context, data: Dataset, options: Options) -> Any:
        assert isinstance(options, ChurnOptions)
        params = _tune(data.train, options.tune, ctx.settings.seed) if options.tune > 0 else {}
        if params:
            prefix = "lgbm_" if data.test is not None else "refit_lgbm_"  # each fit runs its own search
            mlflow.log_params({f"{prefix}{k}": v for k, v in params.items()})
        log.info("fitting LightGBM on %d rows", len(data.train))
        return fit_lgbm(prepare(data.train), data.train[LABEL].to_numpy(), params, ctx.settings.seed)

    def baselines(self, ctx: Context, data: Dataset) -> Any:
        return fit_baselines(prepare(data.train), data.train[LABEL].to_numpy())

    def evaluate(self, ctx: Context, model: Any, baselines: Any, data: Dataset) -> Evaluation:
        x, y = prepare(data.test), data.test[LABEL].to_numpy()
        scores = {"model": model.predict_proba(x)[:, 1], **baseline_scores(baselines, x)}
        results = {f"{name}_{k}": v for name, p in scores.items() for k, v in metrics.binary_scores(y, p).items()}
        gains = model.booster_.feature_importance(importance_type="gain")
        figures = {
            "plots/calibration.png": metrics.calibration_figure(y, scores),
            "plots/importance.png": metrics.importance_figure(list(model.feature_name_), gains),
        }
        return Evaluation(results, data.test, figures)

    def package(self, ctx: Context, model: Any, data: Dataset) -> Packaged:
        pyfunc = ChurnModel(model, CHURN_SERVICE)
        example = data.train[MODEL_INPUT].tail(5).astype("float64")
        in_sample = metrics.binary_scores(data.train[LABEL].to_numpy(), model.predict_proba(prepare(data.train))[:, 1])
        return Packaged(
            pyfunc,
            infer_signature(example, pyfunc.predict(None, example)),
            example,
            metrics={"train_auc": in_sample["auc"], "train_rows": float(len(data.train))},
            metadata={"features": MODEL_INPUT},
        )

    def compare(self, client: MlflowClient, champion: str, challenger: str) -> pd.DataFrame:
        return compare.binary_table(client, self.name, champion, challenger, LABEL, OUTPUT)

    def predict(self, ctx: Context, model: Any, version: str, options: dict[str, Any]) -> pd.DataFrame:
        """customer_id, churn_probability, risk_band and the top drivers for every customer known before as_of."""
        if options:
            raise ValueError(f"churn predictions take no options (got {', '.join(options)})")
        ids = dataset.known_customers(ctx.tx, ctx.as_of)
        if len(ids) == 0:
            raise ValueError(f"no customers are known before {ctx.as_of:%Y-%m-%d}")
        feats = dataset.features_at(ctx.ws, pd.DataFrame({"customer_id": ids, "cutoff": ctx.as_of}))
        scored = ChurnAdapter(model, version, reference_day=0.0).score_frame(feats)
        log.info("scored %d customers as of %s with churn v%s", len(ids), f"{ctx.as_of:%Y-%m-%d}", version)
        return scored

    def adapter(self, model: Any, version: str, ws: Workspace) -> ChurnAdapter:
        return ChurnAdapter(model, version, reference_day=newest_event_day(ws))


FAMILY = ChurnFamily()
