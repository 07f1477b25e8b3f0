"""What the models page reads from the MLflow registry, held in memory: MLflow calls take tens of milliseconds each
and a comparison seconds (the sentiment family rescores its champion).

- A family's registry view (aliases, versions with their promotion notes, the plots its champion's and challenger's
  runs logged) is read again in the background once it is `TTL` seconds old (pages meanwhile show the copy), and
  dropped at once when the page promotes or rolls back (the next page reads the registry before it answers).
- A comparison (`retail models compare`: `training.promotion.comparison`, or the champion alone against its
  baselines through `training.compare.compare_with_champion`) depends only on the versions compared, whose runs
  never change: it is kept per (family, champion, challenger) and computed in a background thread, so a page waits
  for it at most `WAIT` seconds and says it is coming otherwise.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as Pending
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from retail.settings import Settings
from retail.workspace import Workspace
from training import families, promotion, tracking
from training.compare import compare_with_champion, versions_frame

log = logging.getLogger(__name__)
TTL = 30.0  # seconds a family's registry view is reused (a promotion made elsewhere shows within this time)
WAIT = 2.0  # seconds a page waits for comparisons still being computed
IMAGES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
MAX_COMPARISONS = 64
IMAGE_TTL = 300.0
MAX_IMAGES = 64  # plots are tens of kilobytes each


@dataclass(frozen=True)
class Plot:
    version: str
    role: str  # champion | challenger
    path: str  # the artifact's path inside the run

    @property
    def title(self) -> str:
        return PurePosixPath(self.path).stem.replace("_", " ")


@dataclass
class FamilyView:
    name: str
    champion: str | None
    challenger: str | None
    versions: pd.DataFrame  # `training.compare.versions_frame`: aliases, headline metrics, promotion notes
    replaced: str | None  # the version the champion replaced (what a rollback goes back to)
    plots: list[Plot] = field(default_factory=list)
    artifacts: dict[str, set[str]] = field(default_factory=dict)  # version -> its run's image artifacts


@dataclass
class Compared:
    """A comparison's table, or why there is none (no fair common evaluation, a missing run)."""

    table: pd.DataFrame | None = None
    problem: str = ""
    lasting: bool = True  # False: a failure that may pass (the registry unreachable); asked again next time


class Registry:
    """One workspace's registry as the page shows it."""

    def __init__(self, ws: Workspace, settings: Settings) -> None:
        self.ws, self.settings = ws, settings
        self._lock = threading.Lock()
        self._views: dict[str, tuple[float, FamilyView]] = {}
        self._compared: dict[tuple[str, str, str | None], Future[Compared]] = {}
        self._images: dict[tuple[str, str, str], tuple[float, bytes, str]] = {}
        self._refreshing: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-compare")
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-registry")

    def client(self) -> MlflowClient:
        return tracking.connect(self.ws, self.settings)

    def view(self, family: str) -> FamilyView:
        """The family's registry view: read now the first time (or after `invalidate`); later, the copy kept, read
        again in the background once it is `TTL` seconds old, so no page waits for the registry twice."""
        with self._lock:
            held = self._views.get(family)
            stale = held is not None and held[0] <= time.monotonic() and family not in self._refreshing
            if stale:
                self._refreshing.add(family)
        if held is None:
            return self._store(family)
        if stale:
            self._background.submit(self._refresh, family)
        return held[1]

    def _store(self, family: str) -> FamilyView:
        found = self._read(family)
        with self._lock:
            self._views[family] = (time.monotonic() + TTL, found)
        return found

    def _refresh(self, family: str) -> None:
        try:
            self._store(family)
        except Exception:  # the registry unreachable: the page keeps the copy it has and tries again later
            log.exception("%s: reading the registry again failed", family)
        finally:
            with self._lock:
                self._refreshing.discard(family)

    def invalidate(self, family: str) -> None:
        """Forget the family's view (after a promotion or rollback): the next page reads the registry at once."""
        with self._lock:
            self._views.pop(family, None)

    def _read(self, family: str) -> FamilyView:
        client = self.client()
        champion = tracking.alias_version(client, family, tracking.CHAMPION)
        challenger = tracking.alias_version(client, family, tracking.CHALLENGER)
        replaced = None
        if champion is not None:
            replaced = client.get_model_version(family, champion).tags.get("replaced_version") or None
        found = FamilyView(family, champion, challenger, versions_frame(client, family), replaced)
        for role, version in (("champion", champion), ("challenger", challenger)):
            if version is None:
                continue
            images = _images(client, client.get_model_version(family, version).run_id)
            found.artifacts[version] = set(images)
            found.plots += [Plot(version, role, path) for path in images]
        return found

    def comparison(self, family: str, champion: str, challenger: str | None) -> Future[Compared]:
        """The comparison of these versions, computing (once) in the background."""
        key = (family, champion, challenger)
        with self._lock:
            if key not in self._compared:
                if len(self._compared) >= MAX_COMPARISONS:
                    self._compared.pop(next(iter(self._compared)))
                self._compared[key] = self._pool.submit(self._compare, family, champion, challenger)
            return self._compared[key]

    def comparisons(self, views: list[FamilyView], wait: float = WAIT) -> dict[str, Compared | None]:
        """Each family's comparison (None: still being computed after `wait` seconds in all)."""
        futures = {v.name: self.comparison(v.name, v.champion, v.challenger) for v in views if v.champion}
        until = time.monotonic() + wait
        out: dict[str, Compared | None] = {}
        for name, future in futures.items():
            try:
                done = future.result(timeout=max(0.0, until - time.monotonic()))
            except Pending:
                out[name] = None
                continue
            out[name] = done
            if not done.lasting:
                with self._lock:
                    self._compared = {k: f for k, f in self._compared.items() if f is not future}
        return out

    def _compare(self, family: str, champion: str, challenger: str | None) -> Compared:
        client = self.client()
        try:
            if challenger is None:  # the champion alone on its own evaluation, beside its baselines
                table = compare_with_champion(client, family, champion).drop(index="challenger")
            else:
                table = promotion.comparison(client, family, champion, challenger)
            return Compared(table)
        except ValueError as exc:  # NotComparable: the versions have no fair common evaluation, for good
            return Compared(problem=str(exc))
        except Exception as exc:  # e.g. the registry unreachable: said on the page, asked again next time
            log.warning("%s: no comparison of v%s and v%s: %s", family, champion, challenger, exc)
            return Compared(problem=f"{type(exc).__name__}: {exc}", lasting=False)

    def artifact(self, family: str, version: str, path: str) -> tuple[bytes, str]:
        """An image its run logged, for a registered version; LookupError for any other version or path. Kept
        `IMAGE_TTL` seconds (a run's files never change; the version could be deleted)."""
        key = (family, version, path)
        with self._lock:
            held = self._images.get(key)
        if held and held[0] > time.monotonic():
            return held[1], held[2]
        data, media = self._download(family, version, path)
        with self._lock:
            if len(self._images) >= MAX_IMAGES:
                self._images.pop(next(iter(self._images)))
            self._images[key] = (time.monotonic() + IMAGE_TTL, data, media)
        return data, media

    def _download(self, family: str, version: str, path: str) -> tuple[bytes, str]:
        families.entry(family)
        client = self.client()
        try:
            run_id = client.get_model_version(family, version).run_id
        except MlflowException:
            raise LookupError(f"{family} has no version {version}") from None
        if not run_id or path not in _images(client, run_id):
            raise LookupError(f"{family} v{version}'s run logged no image {path}")
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(client.download_artifacts(run_id, path, tmp)).read_bytes()
        return data, IMAGES[PurePosixPath(path).suffix.lower()]


def _images(client: MlflowClient, run_id: str | None) -> list[str]:
    """Paths of the image files a run logged (its plots), walking its artifact folders."""
    if not run_id:
        return []
    found: list[str] = []
    folders: list[str | None] = [None]
    while folders:
        for item in client.list_artifacts(run_id, folders.pop()):
            if item.is_dir:
                folders.append(item.path)
            elif PurePosixPath(item.path).suffix.lower() in IMAGES:
                found.append(item.path)
    return sorted(found)


_registries: dict[str, Registry] = {}
_made = threading.Lock()


def registry(ws: Workspace, settings: Settings) -> Registry:
    """The process's registry view of this workspace (one per tracking URI)."""
    uri = tracking.tracking_uri(ws, settings)
    with _made:
        if uri not in _registries:
            _registries[uri] = Registry(ws, settings)
        return _registries[uri]


def cells(table: pd.DataFrame) -> tuple[list[str], list[dict[str, Any]]]:
    """A comparison as metric columns and rows of {model, version, metric: float | None} for a template."""
    metrics = [c for c in table.columns if c not in ("version", "rows")]
    rows = []
    for model, row in table.iterrows():
        version = row.get("version")
        values = {m: (None if pd.isna(row[m]) else float(row[m])) for m in metrics}
        rows.append({"model": str(model), "version": None if pd.isna(version) else str(version), **values})
    return metrics, rows
