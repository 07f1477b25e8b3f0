"""Which products can be sold where: the application database's stock, else the raw inventory table.

Once `retail db init` has seeded the application database, it is the source of truth: a product is available at
a store while `on_hand - reserved > 0`, so an order placed through the order API takes its last unit out of
recommendations within `check_seconds`. Before that, the newest on-hand count per store and product in the raw
inventory table decides. A workspace with neither treats every product as available. Without a store, the online shop's
stock counts (stores of kind `online`); if the inventory tracks no online store, everything counts as available
online. The table is re-read when its file changes, checked at most every `check_seconds`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retail import db
from retail.settings import get_settings
from retail.workspace import Workspace
from serving.commerce.tables import Inventory
from serving.commerce.tables import Store as StoreRow

log = logging.getLogger(__name__)


class UnknownStore(KeyError):
    def __init__(self, store_id: str) -> None:
        self.store_id = store_id
        super().__init__(f"unknown store {store_id}")


class Stock:
    """Availability masks per store, aligned with a model's product ids and cached until the data changes."""

    def __init__(self, ws: Workspace, check_seconds: float = 2.0, database_url: str | None = None) -> None:
        self.ws, self.check_seconds, self.database_url = ws, check_seconds, database_url
        self._lock = threading.Lock()
        self._rereading = threading.Lock()
        self._stamp: tuple[Any, ...] | None = None
        self._checked = 0.0
        self._in_stock: dict[str, set[str]] | None = None  # store -> products with stock; None: no inventory
        self._stores: set[str] = set()
        self._online: list[str] = []
        self._masks: dict[tuple[str | None, str], np.ndarray | None] = {}

    def _files_stamp(self) -> tuple[Any, ...]:
        paths = (self.ws.raw_table("inventory"), self.ws.raw_table("stores"))
        return tuple(p.stat().st_mtime if p.exists() else -1.0 for p in paths)

    def _database(self) -> Engine | None:
        """The application database when it holds stock; None sends the reads to the raw tables."""
        address = self.database_url or db.url(self.ws, get_settings(workspace=self.ws.root))
        if address.startswith("sqlite:///") and not Path(address.removeprefix("sqlite:///")).exists():
            return None
        engine = db.connect(address)
        with db.reader(engine).connect() as conn:
            seeded = conn.execute(select(Inventory.store_id).limit(1)).first() is not None
        return engine if seeded else None

    def _database_stamp(self, engine: Engine) -> tuple[Any, ...]:
        """Changes whenever a count, a reservation or the set of stores changes."""
        with db.reader(engine).connect() as conn:
            totals = conn.execute(
                select(
                    func.count(),
                    func.sum(Inventory.on_hand),
                    func.sum(Inventory.reserved),
                    func.max(Inventory.updated_at),
                )
            ).one()
            stores = conn.execute(select(func.count()).select_from(StoreRow)).scalar_one()
        return ("db", *totals, stores)

    def _refresh_from_database(self, engine: Engine) -> None:
        stocked, online = in_stock(engine)
        with db.reader(engine).connect() as conn:
            stores = set(conn.execute(select(StoreRow.store_id)).scalars())
            tracked = set(conn.execute(select(Inventory.store_id).distinct()).scalars())
        with self._lock:
            self._in_stock, self._stores = stocked, stores | tracked
            self._online = [s for s in online if s in tracked]
            self._masks = {}
        log.info("stock loaded from the application database: %d stores", len(tracked))

    def refresh(self, force: bool = False) -> None:
        """Re-read the tables if they changed since the last read (blocking I/O: callers run it off the event loop).

        One thread re-reads at a time; meanwhile the others answer from the counts they have, so a burst of
        requests never queues behind a re-read (only the first read, with nothing to answer from, is waited for).
        """
        if not force and time.monotonic() - self._checked < self.check_seconds:
            return
        if not self._rereading.acquire(blocking=force or self._stamp is None):
            return
        try:
            self._reread(force)
        finally:
            self._rereading.release()

    def _reread(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._checked < self.check_seconds:
            return  # another thread re-read while this one waited
        self._checked = now
        engine = self._database()
        stamp = self._database_stamp(engine) if engine is not None else self._files_stamp()
        if stamp == self._stamp and not force:
            return
        if engine is not None:
            self._refresh_from_database(engine)
            self._stamp = stamp
            return
        inventory = self.ws.read_raw("inventory", ["store_id", "product_id", "on_hand", "ts"])
        stores = self.ws.read_raw("stores", ["store_id", "kind"])
        in_stock = None
        known = set() if stores is None else set(stores["store_id"].astype(str))
        if inventory is not None:
            latest = latest_on_hand(inventory)
            positive = latest[latest["on_hand"] > 0]
            in_stock = {str(s): set(g.astype(str)) for s, g in positive.groupby("store_id")["product_id"]}
            known |= set(latest["store_id"].astype(str))
        tracked = set(inventory["store_id"].astype(str)) if inventory is not None else set()
        online = [] if stores is None else sorted(set(stores.loc[stores["kind"] == "online", "store_id"].astype(str)))
        with self._lock:
            self._in_stock, self._stores, self._online = in_stock, known, [s for s in online if s in tracked]
            self._masks = {}
            self._stamp = stamp
        log.info("stock loaded: %s", "no inventory table" if in_stock is None else f"{len(tracked)} stores")

    def available(self, store_id: str | None, product_ids: Sequence[str], catalogue: str) -> np.ndarray | None:
        """Boolean mask over `product_ids` (None: everything is available); raises `UnknownStore`.

        Masks are cached per store and `catalogue`, a name for `product_ids` (the model version).
        """
        self.refresh()
        with self._lock:
            if store_id is not None and self._stores and store_id not in self._stores:
                raise UnknownStore(store_id)
            key = (store_id, catalogue)
            if key not in self._masks:
                self._masks[key] = self._mask(store_id, product_ids)
            return self._masks[key]

    def _mask(self, store_id: str | None, product_ids: Sequence[str]) -> np.ndarray | None:
        if self._in_stock is None:
            return None
        stores = [store_id] if store_id is not None else self._online
        if not stores:
            return None
        stocked = set().union(*(self._in_stock.get(s, set()) for s in stores))
        return np.fromiter((p in stocked for p in product_ids), dtype=bool, count=len(product_ids))


def latest_on_hand(inventory: pd.DataFrame) -> pd.DataFrame:
    """The newest count per store and product (what availability is judged on)."""
    return inventory.sort_values("ts").drop_duplicates(["store_id", "product_id"], keep="last")


def in_stock(engine: Engine) -> tuple[dict[str, set[str]], list[str]]:
    """Products with something available, per store, and the online stores: what `/recommend` filters on.

    One query over the stock table, meant to be cached and refreshed by the caller (a few seconds stale is fine
    for recommendations; placing an order checks stock again).
    """
    with Session(db.reader(engine)) as s:
        rows = s.execute(
            select(Inventory.store_id, Inventory.product_id).where(Inventory.on_hand - Inventory.reserved > 0)
        ).all()
        online = sorted(s.scalars(select(StoreRow.store_id).where(StoreRow.kind == "online")))
    stocked: dict[str, set[str]] = {}
    for store_id, product_id in rows:
        stocked.setdefault(store_id, set()).add(product_id)
    return stocked, online
