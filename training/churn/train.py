"""`retail train churn`: dataset from Feast -> fit -> evaluate against baselines -> MLflow -> registry."""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import numpy as np
import optuna
import pandas as pd
from mlflow.models import infer_signature

from features.repo.definitions import CHURN_SERVICE
from retail.settings import Settings
from retail.workspace import Workspace
from training import compare, metrics, tracking, tuning
from training.churn import MODEL_NAME, dataset
from training.churn.model import (
    MODEL_INPUT,
    ChurnModel,
    baseline_scores,
    fit_baselines,
    fit_lgbm,
    prepare,
)
from training.splits import CutoffPlan, plan_cutoffs

log = logging.getLogger(__name__)
PIP_REQUIREMENTS = ["lightgbm==4.7.0", "pandas==2.3.3", "scikit-learn==1.9.1", "numpy==2.4.6"]


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
        model = fit_lgbm(x_fit, fit_part["churned"].to_numpy(), params, seed)
        return metrics.binary_scores(val_part["churned"].to_numpy(), model.predict_proba(x_val)[:, 1])["auc"]

    return tuning.search(n_trials, _suggest, score, seed=seed)


def _log_evaluation(y: np.ndarray, scores: dict[str, np.ndarray], model, evaluation: pd.DataFrame) -> dict:
    """Log model and baseline metrics on the same rows, the plots and the evaluation set itself."""
    results: dict[str, float] = {}
    for name, p in scores.items():
        for metric, value in metrics.binary_scores(y, p).items():
            results[f"{name}_{metric}"] = value
    mlflow.log_metrics(results)
    gains = model.booster_.feature_importance(importance_type="gain")
    figures = {
        "plots/calibration.png": metrics.calibration_figure(y, scores),
        "plots/importance.png": metrics.importance_figure(list(model.feature_name_), gains),
    }
    for artifact, figure in figures.items():
        mlflow.log_figure(figure, artifact)
    compare.log_evaluation_set(evaluation)
    return results


def _params(plan: CutoffPlan, as_of: pd.Timestamp, train: pd.DataFrame, evaluation: pd.DataFrame) -> dict:
    return {
        "as_of": f"{as_of:%Y-%m-%d}",
        "horizon_days": plan.horizon.days,
        "train_cutoffs": ",".join(f"{c:%Y-%m-%d}" for c in plan.train),
        "eval_cutoff": f"{plan.evaluation:%Y-%m-%d}",
        "feature_service": CHURN_SERVICE,
        "train_rows": len(train),
        "eval_rows": len(evaluation),
    }


def train_churn(
    ws: Workspace,
    settings: Settings,
    as_of: pd.Timestamp | None = None,
    horizon_days: int = 90,
    n_cutoffs: int = 20,
    step_days: int = 7,
    tune_trials: int = 0,
) -> tracking.TrainResult:
    """Train, evaluate and register a churn model using only information from before `as_of`."""
    tx = ws.read_transactions()
    data_end = tx["ts"].max().floor("D") + pd.Timedelta(days=1)
    as_of = pd.Timestamp(as_of) if as_of is not None else data_end
    if as_of > data_end:
        raise ValueError(
            f"--as-of {as_of:%Y-%m-%d} is after the data ends ({data_end:%Y-%m-%d}): labels would be missing"
        )
    tx = tx[tx["ts"] < as_of]
    plan = plan_cutoffs(as_of, horizon_days, n_cutoffs, step_days, data_start=tx["ts"].min())
    log.info(
        "training cutoffs %s, evaluation cutoff %s",
        [f"{c:%Y-%m-%d}" for c in plan.train],
        f"{plan.evaluation:%Y-%m-%d}",
    )
    train = dataset.build(ws, tx, plan.train, plan.horizon)
    evaluation = dataset.build(ws, tx, [plan.evaluation], plan.horizon)
    if train["churned"].nunique() < 2:
        raise ValueError("training labels have a single class: more history or a different horizon is needed")

    client = tracking.connect(ws, settings)
    with mlflow.start_run(experiment_id=tracking.experiment(ws, MODEL_NAME), run_name=f"churn-{as_of:%Y%m%d}") as run:
        mlflow.log_params(_params(plan, as_of, train, evaluation))
        params = _tune(train, tune_trials, settings.seed) if tune_trials > 0 else {}
        mlflow.log_params({f"lgbm_{k}": v for k, v in params.items()})
        x_train, y_train = prepare(train), train["churned"].to_numpy()
        log.info("fitting LightGBM on %d rows", len(x_train))
        model = fit_lgbm(x_train, y_train, params, settings.seed)
        baselines = fit_baselines(x_train, y_train)
        x_eval, y_eval = prepare(evaluation), evaluation["churned"].to_numpy()
        scores = {"model": model.predict_proba(x_eval)[:, 1], **baseline_scores(baselines, x_eval)}
        results = _log_evaluation(y_eval, scores, model, evaluation)
        example = evaluation[MODEL_INPUT].head(5).astype("float64")
        pyfunc = ChurnModel(model, CHURN_SERVICE)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=pyfunc,
            signature=infer_signature(example, pyfunc.predict(None, example)),
            input_example=example,
            pip_requirements=PIP_REQUIREMENTS,
            registered_model_name=MODEL_NAME,
            metadata={"feature_service": CHURN_SERVICE, "features": MODEL_INPUT},
        )
        version = str(info.registered_model_version)
    tags = {"eval_cutoff": f"{plan.evaluation:%Y-%m-%d}", "auc": f"{results['model_auc']:.4f}"}
    alias = tracking.tag_and_assign(client, MODEL_NAME, version, tags)
    log.info(
        "churn v%s: AUC %.3f (recency %.3f, RFM logistic %.3f)",
        version,
        results["model_auc"],
        results["recency_auc"],
        results["rfm_logistic_auc"],
    )
    return tracking.TrainResult(run.info.run_id, version, alias, results)
