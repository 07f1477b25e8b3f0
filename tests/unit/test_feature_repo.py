"""The Feast repository renders for SQLite or Redis by configuration alone."""

from __future__ import annotations

from pathlib import Path

import yaml
from feast.repo_config import RepoConfig

from features.repo.definitions import CHURN_SERVICE, OBJECTS, churn_v1
from features.store import render_repo
from retail.settings import Settings
from retail.workspace import Workspace


def _config(repo: Path) -> RepoConfig:
    raw = yaml.safe_load((repo / "feature_store.yaml").read_text())
    return RepoConfig(repo_path=repo, **raw)


def test_sqlite_is_the_default(tmp_path: Path) -> None:
    repo = render_repo(Workspace.at(tmp_path), Settings())
    config = _config(repo)
    assert config.online_store.type == "sqlite"
    assert (repo / ".feastignore").read_text().startswith("data/")
    assert "features.repo.definitions" in (repo / "definitions.py").read_text()


def test_redis_is_a_configuration_change(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RETAIL_ONLINE_STORE", "redis")
    monkeypatch.setenv("RETAIL_REDIS_URL", "redis.internal:6379")
    repo = render_repo(Workspace.at(tmp_path), Settings())
    config = _config(repo)
    assert config.online_store.type == "redis"
    assert config.online_store.connection_string == "redis.internal:6379"


def test_churn_service_is_versioned_and_uses_customer_features() -> None:
    assert CHURN_SERVICE.endswith("_v1")
    assert [p.name for p in churn_v1.feature_view_projections] == ["customer_features"]
    assert {type(o).__name__ for o in OBJECTS} == {"Entity", "FeatureView", "FeatureService"}
