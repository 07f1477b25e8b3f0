"""Shared fixtures: one session-scoped end-to-end workspace (simulate -> features -> every family's champion)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from retail.settings import Settings
from retail.workspace import Workspace

# OpenMP threads (LightGBM's, torch's) sleep while they wait instead of spinning: on a busy 2-core machine spinning
# threads starve each other (a 200-tree fit on 300 rows took 3.4 s instead of 0.1 s). Read when the OpenMP runtime
# loads, so it is set here, before any test module of any tier imports either library; results do not change.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # MLflow reports usage to its servers unless told not to

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ONLINE_RETAIL = SHARED_DATA / "online_retail" / "online_retail.parquet"


@dataclass
class Built:
    ws: Workspace
    settings: Settings
    version: str
    metrics: dict[str, float]
    recommender_metrics: dict[str, float]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A small simulated workspace with features built and every family's champion registered (built once)."""
    from features.build import build_features
    from features.rawio import write_tables
    from features.simulate import simulate
    from retail import db
    from serving.commerce.seed import seed
    from training import families, promotion, run, tracking
    from training.sentiment.batch import review_scores

    root = tmp_path_factory.mktemp("workspace")
    settings = Settings(workspace=root)
    ws = Workspace.at(root).ensure()
    write_tables(ws.raw_dir, simulate(n_customers=1500, days=540, seed=7))
    build_features(ws, settings, review_scores=review_scores)
    seed(db.engine(ws, settings), ws)  # the order API's catalogue and stock, as `retail db init` makes them
    results = {name: run.train(name, ws, settings, **families.family(name).quick) for name in families.names()}
    for name, result in results.items():
        if result.lost:  # light settings can trail a baseline in a mode; the service tests need a champion
            promotion.promote(tracking.connect(ws, settings), name, force=True)
    return Built(ws, settings, results["churn"].version, results["churn"].metrics, results["recommender"].metrics)


@pytest.fixture(scope="session")
def online_retail() -> Path:
    if not ONLINE_RETAIL.exists():
        pytest.skip(f"real data not present at {ONLINE_RETAIL} (only CI and development machines have it)")
    return ONLINE_RETAIL
