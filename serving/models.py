"""Models the service serves, loaded from the MLflow registry by alias and reloadable without a restart."""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass
from typing import Any

import mlflow.pyfunc

from retail.settings import Settings
from retail.workspace import Workspace
from serving.schemas import ModelStatus
from training import tracking

log = logging.getLogger(__name__)


class ModelMissing(LookupError):
    """No version of the model carries the alias (not trained yet)."""


@dataclass
class LoadedModel:
    model: Any
    status: ModelStatus


class ModelHub:
    """Holds the loaded champion of each registered model; swaps them atomically on reload.

    A model with no version under the alias is skipped with a warning, so the others still serve.
    """

    def __init__(self, ws: Workspace, settings: Settings, names: tuple[str, ...], alias: str = "champion"):
        self.ws, self.settings, self.names, self.alias = ws, settings, names, alias
        self._models: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    def load(self) -> list[ModelStatus]:
        client = tracking.connect(self.ws, self.settings)
        loaded = {}
        for name in self.names:
            version = tracking.alias_version(client, name, self.alias)
            if version is None:
                log.warning("no %s version is @%s: its endpoint answers 503 until one is trained", name, self.alias)
                continue
            mv = client.get_model_version(name, version)
            model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
            status = ModelStatus(name=name, alias=self.alias, version=str(mv.version), run_id=mv.run_id or "")
            loaded[name] = LoadedModel(model, status)
            log.info("loaded %s version %s (@%s)", name, mv.version, self.alias)
        if not loaded:
            raise ModelMissing(f"no model is @{self.alias}: train one (`retail train churn`) first")
        with self._lock:
            self._models = loaded
        gc.collect()
        gc.freeze()  # the models' many long-lived objects leave the collector's scans: no pauses over them
        return [m.status for m in loaded.values()]

    def get(self, name: str) -> LoadedModel:
        with self._lock:
            if name not in self._models:
                raise ModelMissing(f"no {name} version is @{self.alias}: train one and reload")
            return self._models[name]

    def statuses(self) -> list[ModelStatus]:
        with self._lock:
            return [m.status for m in self._models.values()]
