"""What the sales report counts, from both sources, loaded once and kept in memory until its source changes.

- **Imported history** (the workspace's raw `transactions` table): an order is the positive lines of one
  `order_id`, dated by its first line, worth quantity x unit price; negative lines are returns, dated by their own
  time. Rows whose `order_id` is an order of the API (the sale lines `retail db export-transactions` appends) are
  left out here, because the API's tables count those orders with their statuses: nothing is counted twice.
  History has no statuses, so it adds nothing to cancellations or fulfilment times. Kept until the file changes
  (its modification time and size).
- **The order API**: an order counts once it is paid (paid or later, not cancelled), dated by its payment, at its
  total (after loyalty discounts); its returns at their refund, dated by the return, at the store that took them
  back; every placed order, dated by placement, for the cancellation rate. Kept until an order changes (the
  orders table's row count and latest `updated_at`).

Days are whole UTC days counted from 1970-01-01 (`day`, int64); every frame is sorted by day so a date range
is two binary searches.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from fastapi import Request
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retail import db
from retail.settings import get_settings
from retail.workspace import Workspace
from serving.commerce.tables import Order, OrderEvent, OrderLine, Product, Return, ReturnLine

log = logging.getLogger(__name__)

SOLD = ("paid", "picking", "shipped", "delivered", "ready_for_pickup", "picked_up")  # paid or later, not cancelled
FULFILLED = ("shipped", "picked_up")
EPOCH = date(1970, 1, 1)
ORDERS = ["day", "store_id", "channel", "customer_id", "revenue_cents", "units", "api", "fulfil_hours"]
PLACED = ["day", "store_id", "channel", "cancelled"]
LINES = ["day", "store_id", "channel", "product_id", "units", "cents"]  # sold lines, or returned ones (returns)


def day_number(d: date) -> int:
    return (d - EPOCH).days


def day_of(n: int) -> date:
    return date.fromordinal(EPOCH.toordinal() + int(n))


@dataclass(frozen=True)
class Frames:
    """Counted orders, placed API orders, sold lines and returned lines of one source (or a window of them)."""

    orders: pd.DataFrame
    placed: pd.DataFrame
    lines: pd.DataFrame
    returns: pd.DataFrame
    has_store: bool = True
    has_channel: bool = True
    products: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["product_id", "name", "category"]))

    def window(self, lo: int, hi: int, store_id: str | None, channel: str | None) -> Frames:
        """Days `lo` to `hi` inclusive, only `store_id` and `channel` when given."""
        frames = (self.orders, self.placed, self.lines, self.returns)
        return Frames(*(_cut(f, lo, hi, store_id, channel) for f in frames))


def _cut(frame: pd.DataFrame, lo: int, hi: int, store_id: str | None, channel: str | None) -> pd.DataFrame:
    a, b = np.searchsorted(frame["day"].to_numpy(), [lo, hi + 1])
    part = frame.iloc[a:b]
    if store_id is not None:
        part = part[part["store_id"].to_numpy() == store_id]
    if channel is not None:
        part = part[part["channel"].to_numpy() == channel]
    return part


def concat(parts: list[Frames]) -> Frames:
    """One frame of each kind from several sources (empty ones left out, so dtypes stay numeric)."""

    def joined(name: str) -> pd.DataFrame:
        frames = [getattr(p, name) for p in parts]
        full = [f for f in frames if len(f)]
        return pd.concat(full, ignore_index=True) if len(full) > 1 else (full or frames)[0]

    return Frames(*(joined(name) for name in ("orders", "placed", "lines", "returns")))


DTYPES = {"day": "int64", "units": "int64", "cents": "int64", "revenue_cents": "int64", "api": "bool"}
DTYPES |= {"cancelled": "bool", "fulfil_hours": "float64"}


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=DTYPES.get(c, object)) for c in columns})


EMPTY = Frames(_empty(ORDERS), _empty(PLACED), _empty(LINES), _empty(LINES))


def _days(values: Any) -> np.ndarray:
    return np.asarray(pd.to_datetime(values), dtype="datetime64[D]").astype(np.int64)


# --- imported history ----------------------------------------------------------------------------------------------


def _history(ws: Workspace, engine: Engine) -> Frames:
    path = ws.raw_table("transactions")
    names = set(pq.ParquetDataset(path).schema.names)
    wanted = ["order_id", "customer_id", "product_id", "ts", "quantity", "unit_price", "store_id", "channel"]
    tx = pd.read_parquet(path, columns=[c for c in wanted if c in names])
    with Session(db.reader(engine)) as s:
        api_ids = set(s.scalars(select(Order.order_id)))
    if api_ids:  # lines the API exported into the raw table: the API counts those orders
        tx = tx[~tx["order_id"].isin(api_ids)]
    for column in ("store_id", "channel"):
        tx[column] = tx[column].fillna("").astype(str) if column in tx else ""
    tx["day"] = _days(tx["ts"])
    tx["cents"] = np.rint(tx["quantity"].to_numpy() * tx["unit_price"].to_numpy() * 100).astype(np.int64)
    if not tx["day"].is_monotonic_increasing:  # imports and the simulator write in time order: usually no sort
        tx = tx.sort_values("day", kind="stable")
    sold, back = tx[tx["quantity"] > 0], tx[tx["quantity"] < 0]
    orders = sold.groupby("order_id", sort=False).agg(
        day=("day", "min"),
        store_id=("store_id", "first"),
        channel=("channel", "first"),
        customer_id=("customer_id", "first"),
        revenue_cents=("cents", "sum"),
        units=("quantity", "sum"),
    )
    orders = orders.assign(api=False, fulfil_hours=np.nan).sort_values("day", kind="stable").reset_index(drop=True)
    returns = back.assign(quantity=-back["quantity"], cents=-back["cents"])
    return Frames(
        orders[ORDERS],
        _empty(PLACED),
        _lines(sold),
        _lines(returns),
        has_store="store_id" in names,
        has_channel="channel" in names,
        products=_raw_products(ws),
    )


def _lines(frame: pd.DataFrame) -> pd.DataFrame:
    keys = ["day", "store_id", "channel", "product_id"]
    out = frame.groupby(keys, sort=True, as_index=False).agg(units=("quantity", "sum"), cents=("cents", "sum"))
    return out[LINES]


def _raw_products(ws: Workspace) -> pd.DataFrame:
    path = ws.raw_table("products")
    if not path.exists():
        return pd.DataFrame(columns=["product_id", "name", "category"])
    names = set(pq.ParquetDataset(path).schema.names)
    frame = pd.read_parquet(path, columns=[c for c in ("product_id", "name", "category") if c in names])
    return frame if "category" in frame else frame.assign(category=None)


# --- the order API -------------------------------------------------------------------------------------------------


def _api(engine: Engine) -> Frames:
    with Session(db.reader(engine)) as s:
        orders = pd.DataFrame(
            s.execute(
                select(
                    Order.order_id,
                    Order.customer_id,
                    Order.store_id,
                    Order.channel,
                    Order.status,
                    Order.total_cents,
                    Order.created_at,
                )
            ).all(),
            columns=["order_id", "customer_id", "store_id", "channel", "status", "total_cents", "created_at"],
        )
        events = s.execute(
            select(OrderEvent.order_id, OrderEvent.status, func.min(OrderEvent.at))
            .where(OrderEvent.status.in_(("paid", *FULFILLED)))
            .group_by(OrderEvent.order_id, OrderEvent.status)
        ).all()
        lines = pd.DataFrame(
            s.execute(select(OrderLine.order_id, OrderLine.product_id, OrderLine.quantity, OrderLine.unit_price_cents)),
            columns=["order_id", "product_id", "quantity", "unit_price_cents"],
        )
        back = pd.DataFrame(
            s.execute(
                select(
                    Return.created_at,
                    Return.store_id,
                    Order.channel,
                    ReturnLine.product_id,
                    ReturnLine.quantity,
                    ReturnLine.refund_cents,
                )
                .join(ReturnLine, ReturnLine.return_id == Return.return_id)
                .join(Order, Order.order_id == Return.order_id)
            ).all(),
            columns=["created_at", "store_id", "channel", "product_id", "units", "cents"],
        )
        products = pd.DataFrame(
            s.execute(select(Product.product_id, Product.name, Product.category)).all(),
            columns=["product_id", "name", "category"],
        )
    if orders.empty:
        return Frames(EMPTY.orders, EMPTY.placed, EMPTY.lines, EMPTY.returns, products=products)
    paid_at: dict[str, Any] = {}
    fulfilled_at: dict[str, Any] = {}
    for order_id, status, at in events:
        if status == "paid":
            paid_at[order_id] = at
        elif order_id not in fulfilled_at or at < fulfilled_at[order_id]:
            fulfilled_at[order_id] = at
    orders["created_day"] = _days(orders["created_at"])
    placed = orders.assign(day=orders["created_day"], cancelled=orders["status"] == "cancelled")
    placed = placed.sort_values("day", kind="stable")[PLACED].reset_index(drop=True)
    sold = orders[orders["status"].isin(SOLD) & orders["order_id"].isin(paid_at.keys())].copy()
    sold["day"] = _days(sold["order_id"].map(paid_at))
    done = pd.to_datetime(sold["order_id"].map(fulfilled_at))
    sold["fulfil_hours"] = (done - pd.to_datetime(sold["created_at"])).dt.total_seconds() / 3600
    sold_lines = lines.merge(sold[["order_id", "day", "store_id", "channel"]], on="order_id")
    sold_lines["cents"] = sold_lines["quantity"] * sold_lines["unit_price_cents"]
    units = sold_lines.groupby("order_id")["quantity"].sum()
    sold = sold.assign(
        revenue_cents=sold["total_cents"].astype(np.int64),
        units=sold["order_id"].map(units).fillna(0).astype(np.int64),
        api=True,
    )
    back["day"] = _days(back["created_at"])
    back = back.rename(columns={"units": "quantity"})
    return Frames(
        sold.sort_values("day", kind="stable")[ORDERS].reset_index(drop=True),
        placed,
        _lines(sold_lines) if len(sold_lines) else EMPTY.lines,
        _lines(back) if len(back) else EMPTY.returns,
        products=products,
    )


# --- the cache -----------------------------------------------------------------------------------------------------

_cache: dict[Hashable, tuple[Hashable, Frames]] = {}
_lock = threading.Lock()


def _file_mark(path: Any) -> Hashable:
    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)


def _orders_mark(engine: Engine) -> Hashable:
    with Session(db.reader(engine)) as s:
        count, latest = s.execute(select(func.count(), func.max(Order.updated_at)).select_from(Order)).one()
    return (count, str(latest))


def _cached(name: Hashable, mark: Hashable, build: Any) -> Frames:
    found = _cache.get(name)
    if found is not None and found[0] == mark:
        return found[1]
    with _lock:  # one build at a time: a second caller waits and finds the first one's result
        found = _cache.get(name)
        if found is not None and found[0] == mark:
            return found[1]
        frames = build()
        _cache[name] = (mark, frames)
        log.info("sales data %s: %d orders, %d lines", name, len(frames.orders), len(frames.lines))
        return frames


def sources(engine: Engine, ws: Workspace | None) -> list[Frames]:
    """The order API's frames, and the imported history's when `ws` has a transactions table (history first)."""
    found = []
    if ws is not None and ws.raw_table("transactions").exists():
        path = ws.raw_table("transactions")
        mark = (_file_mark(path), _file_mark(ws.raw_table("products")) if ws.raw_table("products").exists() else ())
        found.append(_cached(("history", str(path), str(engine.url)), mark, lambda: _history(ws, engine)))
    found.append(_cached(("api", str(engine.url)), _orders_mark(engine), lambda: _api(engine)))
    return found


def warm(engine: Engine, ws: Workspace | None) -> threading.Thread:
    """Load both sources in a background thread (at start-up), so the first report does not wait for them."""

    def load() -> None:
        try:
            sources(engine, ws)
        except Exception:  # a missing or unreadable table: the first request reports it
            log.exception("loading the sales data in advance failed")

    thread = threading.Thread(target=load, name="sales-data", daemon=True)
    thread.start()
    return thread


def workspace(request: Request) -> Workspace | None:
    """Whose imported history counts: the service's workspace (its runtime's), else the settings' workspace."""
    rt = getattr(request.app.state, "runtime", None)
    if rt is not None:
        return rt.ws  # type: ignore[no-any-return]
    ws = getattr(request.app.state, "workspace", None)
    return ws if isinstance(ws, Workspace) else Workspace.at(get_settings().workspace)
