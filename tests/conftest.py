"""Shared fixtures: one session-scoped end-to-end workspace (simulate -> features -> every family's champion)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
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

    keep = os.environ.get("RETAIL_TEST_BUILT")  # development only: build once into this folder, reuse it after
    if keep and (Path(keep) / "built.json").exists():
        saved = json.loads((Path(keep) / "built.json").read_text())
        root = Path(keep)
        return Built(Workspace.at(root), Settings(workspace=root), **saved)
    root = Path(keep) if keep else tmp_path_factory.mktemp("workspace")
    settings = Settings(workspace=root)
    ws = Workspace.at(root).ensure()
    write_tables(ws.raw_dir, simulate(n_customers=1500, days=540, seed=7))
    build_features(ws, settings, review_scores=review_scores)
    seed(db.engine(ws, settings), ws)  # the order API's catalogue and stock, as `retail db init` makes them
    results = {name: run.train(name, ws, settings, **families.family(name).quick) for name in families.names()}
    for name, result in results.items():
        if result.lost:  # light settings can trail a baseline in a mode; the service tests need a champion
            promotion.promote(tracking.connect(ws, settings), name, force=True)
    found = Built(ws, settings, results["churn"].version, results["churn"].metrics, results["recommender"].metrics)
    if keep:
        saved = {"version": found.version, "metrics": found.metrics, "recommender_metrics": found.recommender_metrics}
        (root / "built.json").write_text(json.dumps(saved))
    return found


@pytest.fixture(scope="session")
def online_retail() -> Path:
    if not ONLINE_RETAIL.exists():
        pytest.skip(f"real data not present at {ONLINE_RETAIL} (only CI and development machines have it)")
    return ONLINE_RETAIL


@pytest.fixture(scope="session")
def base_url(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`retail serve` on the shared workspace, started once for the integration and browser tiers."""
    from servers import serving

    with serving(built.ws.root, tmp_path_factory.mktemp("serve")) as base:
        yield base


@pytest.fixture(scope="session")
def admin_key(built: Built) -> str:
    """An admin API key on the shared workspace: every endpoint but health, metrics and the docs needs one."""
    from retail import db
    from serving.auth import create_key

    key, _ = create_key(db.engine(built.ws, built.settings), "admin", name="integration tests")
    return key


@pytest.fixture(scope="session")
def auth_headers(admin_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_key}"}


@pytest.fixture(scope="session")
def http(base_url: str, auth_headers: dict[str, str]) -> Iterator[httpx.Client]:
    """A client of the running service that sends the admin key with every request."""
    with httpx.Client(base_url=base_url, timeout=30, headers=auth_headers) as client:
        yield client
