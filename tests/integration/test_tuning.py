"""`--tune N`: an Optuna search logged as nested MLflow runs under the training run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from retail.settings import Settings
from retail.workspace import Workspace
from training import run, tracking
from training.churn.options import ChurnOptions

pytestmark = pytest.mark.integration


def test_tuning_logs_each_trial_as_a_nested_run(built, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(built.ws.root, root)
    ws, settings = Workspace.at(root), Settings(workspace=root)
    result = run.train("churn", ws, settings, horizon_days=60, options=ChurnOptions(cutoffs=3, tune=3))

    client = tracking.connect(ws, settings)
    parent = client.get_run(result.run_id)
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'"
    )
    assert len(children) == 6  # 3 trials for the evaluation fit, 3 for the refit
    assert all("val_auc" in c.data.metrics and "num_leaves" in c.data.params for c in children)
    last = sorted(children, key=lambda c: c.info.start_time)[-3:]  # the refit's search, whose choice is registered
    best = max(last, key=lambda c: c.data.metrics["val_auc"])
    assert parent.data.params["refit_lgbm_num_leaves"] == best.data.params["num_leaves"]
    assert result.alias == "challenger"
