"""MLflow wiring shared by every model family: tracking URI, registration, aliases, promotion."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from retail.settings import Settings
from retail.workspace import Workspace

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
BASELINE_TAG = "baseline_check"  # set on a version that lost to one of its baselines: not promoted without --force


def tracking_uri(ws: Workspace, settings: Settings) -> str:
    """A tracking server when configured, else the workspace's own SQLite store."""
    if settings.tracking_uri:
        return settings.tracking_uri
    ws.mlruns.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{ws.mlruns / 'mlflow.db'}"


def connect(ws: Workspace, settings: Settings) -> MlflowClient:
    """Point MLflow (tracking and registry) at this workspace and return a client."""
    uri = tracking_uri(ws, settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(uri, uri)


def experiment(ws: Workspace, name: str) -> str:
    """Get or create an experiment whose artifacts stay inside the workspace."""
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = (ws.mlruns / "artifacts" / name).as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def alias_version(client: MlflowClient, model: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(model, alias).version)
    except MlflowException:
        return None


def assign_new_version(client: MlflowClient, model: str, version: str) -> str:
    """The first version becomes champion; later ones become challenger."""
    alias = CHALLENGER if alias_version(client, model, CHAMPION) else CHAMPION
    client.set_registered_model_alias(model, alias, version)
    log.info("%s version %s is now @%s", model, version, alias)
    return alias


@dataclass
class TrainResult:
    """What a training command hands back: the run, the registered version and the alias it got."""

    run_id: str
    version: str
    alias: str
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    lost: list[str] = field(default_factory=list)  # baselines the evaluation lost to (then not promoted)


def tag_version(client: MlflowClient, model: str, version: str, **tags: Any) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(model, version, key, str(value))


def tag_and_assign(client: MlflowClient, model: str, version: str, tags: dict[str, str]) -> str:
    """Tag a newly registered version and give it its alias (champion if first, else challenger)."""
    tag_version(client, model, version, **tags)
    return assign_new_version(client, model, version)


@dataclass
class VersionRow:
    version: str
    aliases: list[str]
    run_id: str
    metrics: dict[str, float]
    tags: dict[str, str]


def list_versions(client: MlflowClient, model: str) -> list[VersionRow]:
    """Versions newest first, with their aliases and the metrics of the run that made them."""
    aliases: dict[str, list[str]] = {}
    try:
        for alias, version in client.get_registered_model(model).aliases.items():
            aliases.setdefault(str(version), []).append(alias)
    except MlflowException:
        return []
    rows = []
    for mv in client.search_model_versions(f"name='{model}'"):
        run = client.get_run(mv.run_id) if mv.run_id else None
        rows.append(
            VersionRow(
                version=str(mv.version),
                aliases=sorted(aliases.get(str(mv.version), [])),
                run_id=mv.run_id or "",
                metrics=dict(run.data.metrics) if run else {},
                tags=dict(mv.tags),
            )
        )
    return sorted(rows, key=lambda r: int(r.version), reverse=True)


def move_champion(client: MlflowClient, model: str, version: str, reason: str, **tags: Any) -> None:
    """Champion alias to `version`; the promotion and its reason are recorded as version tags."""
    previous = alias_version(client, model, CHAMPION)
    client.set_registered_model_alias(model, CHAMPION, version)
    if alias_version(client, model, CHALLENGER) == version:
        client.delete_registered_model_alias(model, CHALLENGER)
    tag_version(client, model, version, promotion=reason, **tags)
    if previous and previous != version:
        tag_version(client, model, version, replaced_version=previous)
