"""What every endpoint shares: the workspace, the feature store, stock, and each family's loaded champion.

Models load from the MLflow registry by alias through the family registry, each wrapped in its family's
adapter; they are swapped atomically on reload. A model that is missing or cannot be adapted (a stale layout)
is reported by its own endpoint as a 503 while the others keep serving.

Adapters are asked for by their family's typed key (`KEY` in `training/<family>/adapter.py`): `adapter(KEY)`
returns that family's adapter type, so mypy checks every call an endpoint makes on it.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar, cast

import mlflow.pyfunc
import numpy as np
import pandas as pd
from fastapi import HTTPException, Request

from features import store as feature_store
from retail.settings import Settings, get_settings
from retail.workspace import Workspace
from serving.payloads import ModelStatus
from training import families, tracking
from training.family import FamilyKey

log = logging.getLogger(__name__)
A = TypeVar("A")


class StockView(Protocol):
    """What endpoints ask of stock (`serving.commerce.stock.Stock`, handed in by the service)."""

    def refresh(self, force: bool = False) -> None: ...

    def available(self, store_id: str | None, product_ids: Sequence[str], catalogue: str) -> np.ndarray | None: ...


class Runtime:
    """Loaded in the background; `ready` is set once features and models are in."""

    def __init__(self, ws: Workspace, settings: Settings, stock: StockView, alias: str = tracking.CHAMPION) -> None:
        self.ws, self.settings, self.alias = ws, settings, alias
        self.store: Any = None  # feast.FeatureStore
        self.stock = stock
        self.ready = threading.Event()
        self.load_error: str | None = None
        self.features_as_of = pd.Timestamp.now().floor("D")
        self._services: dict[str, Any] = {}
        self._adapters: dict[str, Any] = {}
        self._statuses: dict[str, ModelStatus] = {}
        self._problems: dict[str, str] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        """Feature store, stock and models; errors are kept for /readyz and 503s instead of crashing."""
        try:
            self.store = feature_store.feature_store(self.ws)
            meta = self.ws.read_meta()
            self.features_as_of = pd.Timestamp(meta.get("features_as_of") or self.features_as_of)
            self.stock.refresh(force=True)
            self.load_models()
            self.ready.set()
            log.info("service ready: features as of %s", self.features_as_of.date())
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.exception("loading models or features failed")

    def load_models(self) -> list[ModelStatus]:
        client = tracking.connect(self.ws, self.settings)
        adapters, statuses, problems = {}, {}, {}
        for name in families.names():
            version = tracking.alias_version(client, name, self.alias)
            if version is None:
                problems[name] = f"no {name} version is @{self.alias}: run `retail train {name}` and reload"
                log.warning(problems[name])
                continue
            mv = client.get_model_version(name, version)
            try:
                adapters[name] = _adapt(client, name, version, self.ws)
            except Exception as exc:  # e.g. a model pickled by code with another layout: this family alone is down
                problems[name] = str(exc)
                log.error("%s v%s cannot serve: %s", name, version, exc)
                continue
            statuses[name] = ModelStatus(name=name, alias=self.alias, version=str(version), run_id=mv.run_id or "")
            log.info("loaded %s version %s (@%s)", name, version, self.alias)
        with self._lock:
            self._adapters, self._statuses, self._problems = adapters, statuses, problems
        gc.collect()
        gc.freeze()  # the models' many long-lived objects leave the collector's scans: no pauses over them
        return list(statuses.values())

    def require_ready(self) -> None:
        if not self.ready.is_set():
            raise HTTPException(status_code=503, detail=self.load_error or "models and features are loading")

    def adapter(self, key: FamilyKey[A]) -> A:
        """The family's adapter around the loaded champion, or a 503 saying why there is none."""
        self.require_ready()
        name = key.name
        with self._lock:
            if name in self._adapters:
                return cast(A, self._adapters[name])
            problem = self._problems.get(name, f"no {name} model is loaded")
        raise HTTPException(status_code=503, detail=problem)

    def statuses(self) -> list[ModelStatus]:
        with self._lock:
            return list(self._statuses.values())

    def feature_service(self, name: str) -> Any:
        """A Feast FeatureService object, looked up once (a registry lookup costs milliseconds)."""
        if name not in self._services:
            self._services[name] = self.store.get_feature_service(name)
        return self._services[name]


def _adapt(client: Any, name: str, version: str, ws: Workspace) -> Any:
    model = mlflow.pyfunc.load_model(client.get_model_version_download_uri(name, version))
    return families.family(name).adapter(model, version, ws)


def load_adapter(key: FamilyKey[A], alias: str = tracking.CHAMPION) -> A:
    """One family's adapter around the version behind `alias`, for a process of its own (the settings' workspace)."""
    name = key.name
    settings = get_settings()
    ws = Workspace.at(settings.workspace)
    client = tracking.connect(ws, settings)
    version = tracking.alias_version(client, name, alias)
    if version is None:
        raise ValueError(f"no {name} version is @{alias}: run `retail train {name}` and reload")
    return cast(A, _adapt(client, name, version, ws))


def adapter_or_none(rt: Runtime | None, key: FamilyKey[A]) -> A | None:
    """The family's adapter when `rt` has it loaded and ready; None otherwise (for callers that do without).

    `rt` is None where the order API runs on its own, without the model service.
    """
    if rt is None or not rt.ready.is_set():
        return None
    try:
        return rt.adapter(key)
    except HTTPException:
        return None


def runtime(request: Request) -> Runtime:
    """FastAPI dependency: the service's runtime."""
    return request.app.state.runtime
