"""The workspace's Feast repository: render it, apply definitions, materialize, and read features."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from retail import logs
from retail.settings import Settings
from retail.workspace import Workspace

log = logging.getLogger(__name__)

STUB = (
    '"""Feast definitions for this workspace; they live in the features package."""\n'
    "from features.repo.definitions import *  # noqa: F401,F403\n"
)
FEASTIGNORE = "data/\n__pycache__/\n"


def repo_config(settings: Settings) -> dict[str, Any]:
    """feature_store.yaml as a dict: only the online store differs between SQLite and Redis."""
    if settings.online_store == "redis":
        online: dict[str, Any] = {"type": "redis", "connection_string": settings.redis_url}
    else:
        online = {"type": "sqlite", "path": "data/online_store.db"}
    return {
        "project": "retail",
        "provider": "local",
        "registry": {"registry_type": "file", "path": "data/registry.db", "cache_ttl_seconds": 60},
        "online_store": online,
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }


def render_repo(ws: Workspace, settings: Settings) -> Path:
    """Write feature_store.yaml, the definitions stub and .feastignore; `feast apply` works there by hand."""
    repo = ws.feature_repo
    (repo / "data").mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(yaml.safe_dump(repo_config(settings), sort_keys=False))
    (repo / "definitions.py").write_text(STUB)
    (repo / ".feastignore").write_text(FEASTIGNORE)
    return repo


def feature_store(ws: Workspace):  # -> feast.FeatureStore (imported lazily: feast is slow to import)
    from feast import FeatureStore

    logs.quiet_libraries()  # importing feast.feature_store turns DeprecationWarnings back on
    if not (ws.feature_repo / "feature_store.yaml").exists():
        raise FileNotFoundError(f"no Feast repository in {ws.feature_repo}: run `retail features build` first")
    return FeatureStore(repo_path=str(ws.feature_repo))


def apply(ws: Workspace) -> None:
    """Register entities, feature views and services (what `feast apply` does for the repo)."""
    from features.repo.definitions import OBJECTS

    feature_store(ws).apply(OBJECTS)


def materialize(ws: Workspace, start: datetime, end: datetime, empty: Collection[str] = ()) -> None:
    """Load the newest feature values at `end` into the online store.

    Views named in `empty` (their tables have no rows: no store column, only guests) are left out: they have
    nothing to load, and Feast's file source cannot filter an empty table by time.
    """
    fs = feature_store(ws)
    views = [v.name for v in fs.list_feature_views() if v.online and v.name not in set(empty)]
    fs.materialize(start_date=start, end_date=end, feature_views=views)


def historical_features(
    ws: Workspace, entity_df: pd.DataFrame, service: str, chunk_rows: int = 100_000
) -> pd.DataFrame:
    """Point-in-time join: for each (entity, event_timestamp) row, features known at that time.

    The join runs in chunks of entity rows: the file offline store joins every feature row of an entity to
    every entity row, so one large call can exhaust memory where chunks of ~100k rows stay near 3 GB.
    """
    store = feature_store(ws)
    features = store.get_feature_service(service)
    chunks = [entity_df.iloc[i : i + chunk_rows] for i in range(0, len(entity_df), chunk_rows)] or [entity_df]
    parts = []
    for n, chunk in enumerate(chunks, start=1):
        if len(chunks) > 1:
            log.info("point-in-time join %d/%d (%d rows)", n, len(chunks), len(chunk))
        parts.append(store.get_historical_features(entity_df=chunk, features=features).to_df())
    return pd.concat(parts, ignore_index=True)


def online_features(store: Any, service: str, key: str, ids: list[str]) -> pd.DataFrame:
    """Current feature values for the given ids from the online store (missing ids come back as nulls)."""
    response = store.get_online_features(
        features=store.get_feature_service(service), entity_rows=[{key: i} for i in ids]
    )
    return response.to_df()


def online_row(store: Any, service: Any, key: str, entity_id: str, names: list[str]) -> list[float | None]:
    """One entity's current values of `names` (None where missing): the per-request read, without pandas.

    `service` is the FeatureService object, looked up once by the caller (a registry lookup costs milliseconds).
    """
    values = store.get_online_features(features=service, entity_rows=[{key: entity_id}]).to_dict()
    return [values[name][0] for name in names]


def products_bought(store: Any, customer_id: str) -> list[str]:
    """Every product the customer has bought, as the online store has it now (pushed by orders between builds).

    Empty for a workspace whose features were built before the view existed (until its next build).
    """
    from feast.errors import FeatureViewNotFoundException

    try:
        values = store.get_online_features(
            features=["customer_products:products_bought"], entity_rows=[{"customer_id": customer_id}]
        ).to_dict()
    except FeatureViewNotFoundException:
        return []
    return list(values["products_bought"][0] or [])
