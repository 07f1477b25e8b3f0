"""Shared fixtures: one session-scoped end-to-end workspace (simulate -> features -> churn and recommender)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from retail.settings import Settings
from retail.workspace import Workspace

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
    """A small simulated workspace with features built, churn and recommender champions registered (built once)."""
    from features.build import build_features
    from features.rawio import write_tables
    from features.simulate import simulate
    from training import run
    from training.churn.family import ChurnOptions
    from training.recommend.family import RecommenderOptions
    from training.recommend.rerank import RerankConfig

    # a lighter recommender than the default (fewer trees, label windows and cart sessions): same code paths
    fixture_ranking = RerankConfig(n_estimators=60, learning_rate=0.1, earlier_cutoffs_days=(30,), cart_sessions=300)

    root = tmp_path_factory.mktemp("workspace")
    settings = Settings(workspace=root)
    ws = Workspace.at(root).ensure()
    write_tables(ws.raw_dir, simulate(n_customers=1500, days=540, seed=7))
    build_features(ws, settings)
    result = run.train("churn", ws, settings, horizon_days=60, options=ChurnOptions(cutoffs=8))
    recommender = run.train(
        "recommender", ws, settings, horizon_days=30, options=RecommenderOptions(config=fixture_ranking)
    )
    if recommender.lost:  # the light ranking above can trail a baseline in a mode; the service tests need a champion
        from training import promotion, tracking

        promotion.promote(tracking.connect(ws, settings), "recommender", force=True)
    return Built(ws, settings, result.version, result.metrics, recommender.metrics)


@pytest.fixture(scope="session")
def online_retail() -> Path:
    if not ONLINE_RETAIL.exists():
        pytest.skip(f"real data not present at {ONLINE_RETAIL} (only CI and development machines have it)")
    return ONLINE_RETAIL
