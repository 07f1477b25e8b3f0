"""Redis as the online store, stopped and started again: /churn answers 503 with Retry-After while it is down
(never 500) and 200 again once it is back, without restarting the service.

A small workspace's features are built into a real Redis (`RETAIL_ONLINE_STORE=redis`); /churn runs in the real
service app over the real Feast online read, with a stand-in model (what a trained one would answer does not
matter here, and training one would make this test minutes long).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import redisserver
from fastapi.testclient import TestClient

from features import store as feature_store
from features.catalog import CHURN_SERVICE, CUSTOMER_FEATURES
from retail.settings import Settings
from retail.workspace import Workspace

pytestmark = pytest.mark.integration


class ConstantChurn:
    """A churn model that answers 0.5 for every customer the online store has features for."""

    feature_service = CHURN_SERVICE
    version = "1"
    reference_date = pd.Timestamp("2026-01-01")

    def known(self, frame: pd.DataFrame) -> pd.Series:
        return frame[list(CUSTOMER_FEATURES)].notna().any(axis=1)

    def score_known(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
        known = self.known(frame).to_numpy()
        return self.score_online(frame[known].reset_index(drop=True)), list(frame.loc[~known, "customer_id"])

    def score_online(self, frame: pd.DataFrame) -> pd.DataFrame:
        n = len(frame)
        return pd.DataFrame(
            {
                "customer_id": frame["customer_id"],
                "churn_probability": [0.5] * n,
                "risk_band": ["medium"] * n,
                "driver_1": [""] * n,
                "driver_2": [""] * n,
                "driver_3": [""] * n,
                "recency_days": [None] * n,
            }
        )


class OnRedis:
    """The service's runtime, ready, with the workspace's Feast store (on Redis) and the stand-in model."""

    def __init__(self, ws: Workspace) -> None:
        self.store = feature_store.feature_store(ws)
        self.churn = ConstantChurn()

    def require_ready(self) -> None:
        return None

    def adapter(self, key: Any) -> Any:
        assert key.name == "churn"
        return self.churn

    def feature_service(self, name: str) -> Any:
        return self.store.get_feature_service(name)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[redisserver.RedisServer]:
    if redisserver.binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is required under CI: .ci/run installs it (apt-get install redis-server)")
        pytest.skip("redis-server is not installed here (apt-get install redis-server)")
    with redisserver.server() as server:
        yield server


@pytest.fixture(scope="module")
def workspace(redis_server: redisserver.RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A small simulated workspace whose features are built into the Redis server."""
    from features.build import build_features
    from features.rawio import write_tables
    from features.simulate import simulate
    from training.sentiment.batch import review_scores

    root = tmp_path_factory.mktemp("redis-ws")
    ws = Workspace.at(root).ensure()
    write_tables(ws.raw_dir, simulate(n_customers=40, days=60, seed=3))
    build_features(
        ws,
        Settings(workspace=root, online_store="redis", redis_url=redis_server.url),
        review_scores=review_scores,
    )
    return ws


@pytest.fixture
def service(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, str]]]:
    from retail import db
    from serving import auth
    from serving.service import app

    engine = db.connect(f"sqlite:///{workspace.root / 'data' / 'app.db'}")
    key, _ = auth.create_key(engine, "admin", name="redis outage")
    auth.forget()
    monkeypatch.setattr(app.state, "db_engine", engine, raising=False)
    monkeypatch.setattr(app.state, "runtime", OnRedis(workspace), raising=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, {"Authorization": f"Bearer {key}"}
    auth.forget()


def test_churn_is_503_while_redis_is_down_and_200_once_it_is_back(
    service: tuple[TestClient, dict[str, str]], workspace: Workspace, redis_server: redisserver.RedisServer
) -> None:
    client, headers = service
    ids = pd.read_parquet(workspace.features_dir / "customer_features.parquet")["customer_id"].head(3).tolist()
    body = {"customer_ids": ids}

    def churn() -> Any:
        return client.post("/churn", json=body, headers=headers)

    before = churn()
    assert before.status_code == 200, before.text
    assert [s["customer_id"] for s in before.json()["scores"]] == ids  # read from Redis
    redis_server.stop()
    try:
        down = churn()
        assert down.status_code == 503, down.text
        assert int(down.headers["Retry-After"]) > 0
        assert "online store" in down.json()["detail"]
    finally:
        redis_server.start()
    after = churn()  # the same process and store object: redis-py reconnects by itself
    assert after.status_code == 200, after.text
    assert after.json()["scores"] == before.json()["scores"]


def test_the_feature_read_raises_what_faults_maps_to_503(
    workspace: Workspace, redis_server: redisserver.RedisServer
) -> None:
    """The endpoint's own read (`features.store.online_features`) against the stopped server."""
    from serving import faults

    store = feature_store.feature_store(workspace)
    ids = pd.read_parquet(workspace.features_dir / "customer_features.parquet")["customer_id"].head(1).tolist()
    assert not feature_store.online_features(store, CHURN_SERVICE, "customer_id", ids).isna().all(axis=None)
    redis_server.stop()
    try:
        with pytest.raises(Exception) as raised:
            feature_store.online_features(store, CHURN_SERVICE, "customer_id", ids)
        assert faults.which(raised.value) == "online store", repr(raised.value)
    finally:
        redis_server.start()
    frame = feature_store.online_features(store, CHURN_SERVICE, "customer_id", ids)
    assert frame["customer_id"].tolist() == ids and not frame.drop(columns="customer_id").isna().all(axis=None)
