"""`retail db export-transactions`: append the sale lines the API recorded to the raw transactions table.

The table is read, extended and rewritten whole (a temporary file renamed over the old one), and only then are
the lines marked exported, in the database. A crash between the two leaves lines that are in the file but not
marked: the next run finds them there (same order, product, time and quantity) and marks them without
appending them again, so no line is ever lost or doubled. An exclusive file lock keeps two exports from
interleaving.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from features.contract import validate
from retail import db
from retail.files import write_parquet
from retail.workspace import Workspace
from serving.commerce.tables import SaleLine

log = logging.getLogger(__name__)
COLUMNS = ["order_id", "customer_id", "product_id", "ts", "quantity", "unit_price", "store_id", "channel"]
MATCH = ["order_id", "product_id", "ts", "quantity"]


@contextmanager
def _locked(ws: Workspace) -> Iterator[None]:
    ws.raw_dir.mkdir(parents=True, exist_ok=True)
    with open(ws.raw_dir / ".transactions.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sale_frame(lines: list[SaleLine]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "order_id": [x.order_id for x in lines],
            "customer_id": [x.customer_id for x in lines],
            "product_id": [x.product_id for x in lines],
            "ts": pd.to_datetime([x.ts for x in lines]),
            "quantity": [x.quantity for x in lines],
            "unit_price": [x.unit_price_cents / 100 for x in lines],
            "store_id": [x.store_id for x in lines],
            "channel": [x.channel for x in lines],
        },
        columns=COLUMNS,
    )
    return validate("transactions", frame, "sale_lines")


def export_transactions(engine: Engine, ws: Workspace) -> int:
    """Append every not-yet-exported sale line to `transactions.parquet`; the number of rows appended."""
    with _locked(ws):
        with Session(db.reader(engine)) as s:
            pending = list(s.scalars(select(SaleLine).where(SaleLine.exported_at.is_(None)).order_by(SaleLine.id)))
        if not pending:
            return 0
        new = sale_frame(pending)
        existing = ws.read_raw("transactions")
        if existing is not None:
            new = not_in(new, existing)
        if len(new):
            table = new if existing is None else pd.concat([existing, new], ignore_index=True)
            write_parquet(table, ws.raw_table("transactions"))
        stamp = datetime.now(UTC).replace(tzinfo=None)
        with Session(engine) as s, s.begin():
            s.execute(
                update(SaleLine)
                .where(SaleLine.id.in_([x.id for x in pending]), SaleLine.exported_at.is_(None))
                .values(exported_at=stamp)
            )
    log.info("appended %d sale lines to %s (%d pending)", len(new), ws.raw_table("transactions"), len(pending))
    return len(new)


def not_in(new: pd.DataFrame, existing: pd.DataFrame) -> pd.DataFrame:
    """The rows of `new` the file does not hold yet (an earlier export that crashed before marking them)."""
    if not set(MATCH) <= set(existing.columns):
        return new
    mine = existing.loc[existing["order_id"].isin(set(new["order_id"])), MATCH]
    if mine.empty:
        return new
    seen = pd.MultiIndex.from_frame(mine.astype({"ts": "datetime64[ns]", "quantity": "int64"}))
    keys = pd.MultiIndex.from_frame(new[MATCH].astype({"ts": "datetime64[ns]", "quantity": "int64"}))
    return new[~keys.isin(seen)].reset_index(drop=True)
