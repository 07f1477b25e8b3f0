"""What `/forecast` calls: the champion's stored forecast as of the newest data, with overrides applied.

It also re-exports what the endpoint's override and accuracy requests need of the family (override storage with
its audit trail, accuracy), so the endpoint imports this module only.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from retail import db
from retail.settings import get_settings
from retail.workspace import Workspace
from training.demand import batch, storage
from training.demand.accuracy import measure
from training.demand.storage import (
    Key,
    OverrideChange,
    OverrideRequest,
    audit_trail,
    create_override,
    edit_override,
    list_overrides,
    reading,
    revert_override,
)
from training.family import FamilyKey

__all__ = [
    "KEY",
    "DemandAdapter",
    "Key",
    "OverrideChange",
    "OverrideRequest",
    "audit_trail",
    "create_override",
    "edit_override",
    "list_overrides",
    "measure",
    "reading",
    "revert_override",
]

log = logging.getLogger(__name__)
SOURCE = "service"  # the stored run the service answers from: every product sold lately


class DemandAdapter:
    """Loads (or makes and stores) one forecast per model version and data date; answers per series."""

    def __init__(self, model: Any, version: str, ws: Workspace) -> None:
        inner = batch.unwrap(model)
        self.version, self.ws, self.settings = version, ws, get_settings(workspace=ws.root)
        self.level, self.freq, self.horizon = inner.level, inner.spec.freq, inner.spec.horizon
        self.as_of = pd.Timestamp(ws.read_meta().get("data_end") or pd.Timestamp.now()).floor("D")
        with storage.reading(ws, self.settings) as s:
            stored = storage.load_run(s, version, self.as_of, self.level, SOURCE)
        if stored is None:
            stored = self._make(model)
        if self.level == "product_store":  # product totals are the sum of their stores
            totals = stored.groupby(["product_id", "ds"], as_index=False)[["p10", "p50", "p90"]].sum()
            totals = totals.merge(stored.drop_duplicates("product_id")[["product_id", "price"]], on="product_id")
            stored = pd.concat([stored, totals.assign(store_id="")], ignore_index=True)
        stored["store_id"] = stored["store_id"].fillna("") if "store_id" in stored else ""
        self.frame = stored.sort_values(["product_id", "store_id", "ds"]).set_index(["product_id", "store_id"])
        log.info("demand v%s: %d forecast rows as of %s", version, len(stored), f"{self.as_of:%Y-%m-%d}")

    def _make(self, model: Any) -> pd.DataFrame:
        frame = batch.model_forecast(self.ws, self.as_of, model, self.level, self.horizon)
        with db.session(self.ws, self.settings) as s:
            storage.store_run(s, frame, self.version, self.as_of, self.level, self.freq, SOURCE)
        return frame

    def known(self, product_id: str, store_id: str) -> bool:
        return (product_id, store_id) in self.frame.index

    def products(self) -> set[str]:
        return set(self.frame.index.get_level_values(0))

    def series(self, product_id: str, store_id: str, horizon: int) -> pd.DataFrame:
        """`ds, p10, p50, p90, adjusted, override_id, revenue_p50, revenue_adjusted` for the next periods."""
        rows = self.frame.loc[[(product_id, store_id)]].reset_index().head(horizon)
        with storage.reading(self.ws, self.settings) as s:  # a read: never queues behind the write lock
            rows = storage.adjust(rows, storage.active_overrides(s, [product_id]))
        rows["revenue_p50"] = rows["p50"] * rows["price"]
        rows["revenue_adjusted"] = rows["adjusted"] * rows["price"]
        return rows

    def current(self, product_id: str, store_id: str) -> pd.DataFrame | None:
        """The series with its adjusted values now (what a new override replaces), or None if not forecast."""
        return self.series(product_id, store_id, self.horizon) if self.known(product_id, store_id) else None


KEY: FamilyKey[DemandAdapter] = FamilyKey("demand")  # `Runtime.adapter(KEY)` is a `DemandAdapter`
