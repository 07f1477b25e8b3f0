"""Optuna search where every trial is a nested MLflow run under the training run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import mlflow
import optuna

log = logging.getLogger(__name__)


def search(
    n_trials: int,
    suggest: Callable[[optuna.Trial], dict[str, Any]],
    score: Callable[[dict[str, Any]], float],
    metric: str = "val_auc",
    seed: int = 0,
) -> dict[str, Any]:
    """Maximise `score` over `suggest`ed parameters; returns the best parameters found."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    parent = mlflow.active_run()
    experiment_id = parent.info.experiment_id if parent else None

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial)
        with mlflow.start_run(nested=True, experiment_id=experiment_id, run_name=f"trial-{trial.number:03d}"):
            mlflow.log_params(params)
            value = score(params)
            mlflow.log_metric(metric, value)
        log.info("trial %d/%d: %s=%.4f", trial.number + 1, n_trials, metric, value)
        return value

    study.optimize(objective, n_trials=n_trials)
    log.info("best %s=%.4f with %s", metric, study.best_value, study.best_params)
    return dict(study.best_params)
