"""Fresh features: a paid order, a cancel, a return or scored feedback pushes the customer's recomputed rows to
the online store.

The API queues the customer after its transaction commits; one background thread recomputes their rows from the
raw transactions plus the sale lines not exported yet, with the build's own transforms (`features.fresh`), and
writes them through the Feast push sources. So the next /churn, /recommend and profile see the order without a
feature build, and the next build, which first exports those sale lines to the raw data, writes the same values.

Feedback works the same way for the customer's sentiment features: the review scores of the last build plus the
scored feedback in the database, rolled up by `features.sentiment` (the build rolls up the same feedback).

Nothing is lost if the process stops or a push fails (the online store down): `notify` writes the customer to
the `push_queue` table before the API answers, and a row leaves it only once its push succeeded. Failed pushes
are retried with backoff (5 s doubling to 5 min) and at the next start, which also pushes every customer with
sale lines not exported yet (`catch_up`: those lines are written in the order's own transaction, so a sale is
never lost even when the queue row could not be written). `stop()` ends the thread after the push in progress.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Engine, and_, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from features import fresh, sentiment
from features import store as feature_store
from features.catalog import CUSTOMER_PRODUCTS_PUSH, CUSTOMER_PUSH, CUSTOMER_SENTIMENT_PUSH
from retail import db
from retail.workspace import Workspace
from serving.commerce.events import now
from serving.commerce.export import not_in, sale_frame
from serving.commerce.feedback import scored_rows
from serving.commerce.tables import PendingPush, SaleLine

log = logging.getLogger(__name__)
COLUMNS = ["order_id", "customer_id", "product_id", "ts", "quantity", "unit_price"]
Kind = Literal["sales", "feedback"]
KINDS: tuple[Kind, ...] = ("sales", "feedback")
RETRY_S, RETRY_MAX_S = 5.0, 300.0  # backoff after a failed push: doubles from 5 s up to 5 min
_CHUNK = 1000  # rows per upsert statement (SQLite allows ~32k bound values)


def enqueue(engine: Engine, kind: Kind, customer_ids: Iterable[str], error: str | None = None) -> None:
    """Queue these customers' push (one row per customer and kind); with `error`, count a failed attempt."""
    ids = sorted(set(customer_ids))
    at = now()
    insert: Any = {"sqlite": sqlite_insert, "postgresql": pg_insert}[engine.dialect.name]  # both have upserts
    with engine.begin() as conn:
        for start in range(0, len(ids), _CHUNK):
            rows = [
                {"customer_id": c, "kind": kind, "version": 1, "queued_at": at, "attempts": int(error is not None)}
                for c in ids[start : start + _CHUNK]
            ]
            statement = insert(PendingPush).values(rows)
            changed: dict[str, object] = {"version": PendingPush.version + 1, "queued_at": at}
            if error is not None:
                changed |= {"attempts": PendingPush.attempts + 1, "last_error": error[:500]}
            conn.execute(statement.on_conflict_do_update(index_elements=["customer_id", "kind"], set_=changed))


def queued(engine: Engine) -> list[tuple[Kind, str, int]]:
    """Every queued push: (kind, customer_id, version), those that failed least and oldest first."""
    with Session(db.reader(engine)) as s:
        rows = s.execute(
            select(PendingPush.kind, PendingPush.customer_id, PendingPush.version).order_by(
                PendingPush.attempts, PendingPush.queued_at
            )
        ).all()
    return [(row.kind, row.customer_id, row.version) for row in rows]  # type: ignore[misc]


def done(engine: Engine, kind: Kind, pushed: list[tuple[str, int]]) -> None:
    """Clear pushed rows, unless the customer changed again meanwhile (a newer version stays queued)."""
    with engine.begin() as conn:
        for start in range(0, len(pushed), _CHUNK):
            matches = [
                and_(PendingPush.customer_id == c, PendingPush.version == v) for c, v in pushed[start : start + _CHUNK]
            ]
            conn.execute(delete(PendingPush).where(PendingPush.kind == kind, or_(*matches)))


class History:
    """The raw transactions by customer and the buyer counts, re-read when the file changes (an export)."""

    def __init__(self, ws: Workspace, engine: Engine) -> None:
        self.ws, self.engine = ws, engine
        self._stamp: float | None = None
        self._tx = pd.DataFrame(columns=COLUMNS)
        self._rows: dict[str, list[int]] = {}
        self.products: pd.DataFrame | None = None
        self.buyers = fresh.Buyers(self._tx)

    def refresh(self) -> None:
        path = self.ws.raw_table("transactions")
        stamp = path.stat().st_mtime if path.exists() else None
        if stamp == self._stamp and self._stamp is not None:
            return
        started = time.perf_counter()
        tx = self.ws.read_raw("transactions", COLUMNS)
        self._tx = tx if tx is not None else pd.DataFrame(columns=COLUMNS)
        self._rows = self._tx.groupby("customer_id", sort=False).indices  # type: ignore[assignment]
        self.products = self.ws.read_raw("products")
        self.buyers = fresh.Buyers(self._tx)
        self.buyers.add(self.pending(None))  # everybody's unexported purchases count as buyers too
        self._stamp = stamp
        log.info("feature push: %d raw lines loaded in %.1fs", len(self._tx), time.perf_counter() - started)

    def pending(self, customer_ids: Iterable[str] | None) -> pd.DataFrame:
        """Sale lines not exported yet (of these customers, or everybody's), as raw transaction rows."""
        query = select(SaleLine).where(SaleLine.exported_at.is_(None))
        if customer_ids is not None:
            query = query.where(SaleLine.customer_id.in_(list(customer_ids)))
        with Session(db.reader(self.engine)) as s:
            lines = list(s.scalars(query.order_by(SaleLine.id)))
        return sale_frame(lines)[COLUMNS]

    def of(self, customer_id: str, pending: pd.DataFrame) -> pd.DataFrame:
        """Every line of the customer: raw ones and those still waiting for the export."""
        raw = self._tx.iloc[self._rows.get(customer_id, [])]
        mine = not_in(pending[pending["customer_id"] == customer_id], raw)
        return pd.concat([raw, mine], ignore_index=True) if len(mine) else raw.reset_index(drop=True)


class Pusher:
    """Pushes the rows of customers whose sales or feedback changed, from one background thread.

    The queue is the `push_queue` table; customers queued while the database itself was down wait in memory.
    """

    def __init__(self, ws: Workspace, engine: Engine, retry_s: float = RETRY_S) -> None:
        self.history = History(ws, engine)
        self.ws, self.engine, self.retry_s = ws, engine, retry_s
        self._store: object | None = None
        self._wake, self._stopping = threading.Event(), threading.Event()
        self._unsaved: set[tuple[Kind, str]] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.pushed = 0

    def notify(self, customer_id: str | None, kind: Kind = "sales") -> None:
        """Queue a customer whose sales (paid lines, returns) or feedback changed; guests have no features.

        Written to the database before the caller answers, so a stop or a failed push does not lose it.
        """
        if customer_id is None:
            return
        try:
            enqueue(self.engine, kind, [customer_id])
        except Exception as exc:  # the database down right after the change committed: keep it in memory
            log.warning("feature push: queueing %s %s in memory only: %s", kind, customer_id, exc)
            with self._lock:
                self._unsaved.add((kind, customer_id))
        self._wake.set()

    def push(self, customer_ids: Iterable[str]) -> int:
        """Recompute and push the rows of those of these customers with unexported sale lines; how many."""
        ids = sorted(set(customer_ids))
        if not ids:
            return 0
        self.history.refresh()
        pending = self.history.pending(ids)
        if pending.empty:  # nothing the raw data lacks (a cancel before payment): the built rows stand
            return 0
        self.history.buyers.add(pending)
        built_to = pd.Timestamp(self.ws.read_meta().get("features_as_of") or pending["ts"].min().floor("D"))
        features, bought = [], []
        for customer_id, mine in pending.groupby("customer_id"):
            tx = self.history.of(str(customer_id), pending)
            # as the next build will materialize: up to the day after the newest line, all customers' included
            at = max(built_to, mine["ts"].max().floor("D") + pd.Timedelta(days=1))
            rows, products = fresh.customer_rows(tx, self.history.products, self.history.buyers, at)
            features.append(rows)
            bought.append(products)
        store = self._feature_store()
        store.push(CUSTOMER_PUSH, pd.concat(features, ignore_index=True))  # type: ignore[attr-defined]
        store.push(CUSTOMER_PRODUCTS_PUSH, pd.concat(bought, ignore_index=True))  # type: ignore[attr-defined]
        self.pushed += len(features)
        return len(features)

    def push_sentiment(self, customer_ids: Iterable[str]) -> int:
        """Recompute and push these customers' sentiment rows from reviews and scored feedback; how many."""
        ids = sorted(set(customer_ids))
        feedback = scored_rows(self.history.engine, ids)
        if feedback.empty:
            return 0
        cached = self.ws.features_dir / "review_scores.parquet"  # the last build's review scores
        reviews = pd.read_parquet(cached) if cached.exists() else feedback.iloc[:0]
        scores = pd.concat([reviews[reviews["customer_id"].isin(ids)], feedback], ignore_index=True)
        built_to = pd.Timestamp(self.ws.read_meta().get("features_as_of") or scores["ts"].min().floor("D"))
        at = max(built_to, scores["ts"].max().floor("D") + pd.Timedelta(days=1))
        rows = fresh.latest(sentiment.rolled_up(scores, "customer_id"), at)
        self._feature_store().push(CUSTOMER_SENTIMENT_PUSH, rows)  # type: ignore[attr-defined]
        return len(rows)

    def catch_up(self) -> int:
        """Push every customer with sale lines the raw data does not have yet (after a restart, say)."""
        self.history.refresh()
        pending = self.history.pending(None)
        return self.push(pending["customer_id"].dropna().astype(str))

    def start(self) -> Callable[[], None]:
        """Catch up, then push queued customers until the returned `stop()` is called."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="feature-push", daemon=True)
        self._thread.start()
        return self.stop

    def stop(self, timeout_s: float = 30.0) -> None:
        """End the thread after the push in progress; what is still queued is pushed at the next start."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            if self._thread.is_alive():
                log.warning("feature push: still pushing after %.0f s; its rows stay queued", timeout_s)
        with self._lock:
            unsaved, self._unsaved = self._unsaved, set()
        for kind in KINDS:  # queued while the database was down: into the table now, if it is back
            ids = [c for k, c in unsaved if k == kind]
            if ids:
                try:
                    enqueue(self.engine, kind, ids)
                except Exception:
                    log.exception("feature push: %d %s pushes not saved (the next build includes them)", len(ids), kind)

    def _feature_store(self) -> object:
        if self._store is None:  # its own store object: its own online-store connection, off the request threads
            self._store = feature_store.feature_store(self.ws)
        return self._store

    def _loop(self) -> None:
        caught_up, wait_s = False, self.retry_s
        while not self._stopping.is_set():
            self._wake.clear()
            failed = False
            if not caught_up:
                try:
                    log.info("feature push: caught up %d customers", self.catch_up())
                    caught_up = True
                except Exception:
                    log.exception("feature push: catching up failed; retrying in %.0f s", wait_s)
                    failed = True
            failed = self.drain() or failed
            if failed:  # back off, whatever is queued meanwhile (it waits in the table for the next round)
                self._stopping.wait(timeout=wait_s)
                wait_s = min(wait_s * 2, RETRY_MAX_S)
            else:
                wait_s = self.retry_s
                self._wake.wait()

    def drain(self) -> bool:
        """Push every queued customer once; True when a push failed (its rows stay queued, attempts counted).

        A batch that fails is retried one customer at a time, so one customer whose push keeps failing (it is
        read last: most attempts) does not hold the others back; the first of them failing too means the online
        store is down, and the rest wait for the next round.
        """
        with self._lock:
            unsaved, self._unsaved = self._unsaved, set()
        try:
            rows = queued(self.engine)
        except Exception:
            log.exception("feature push: reading the queue failed")
            with self._lock:
                self._unsaved |= unsaved
            return True
        failed = False
        for kind in KINDS:
            mine = {c: v for k, c, v in rows if k == kind}
            ids = list(mine) + sorted({c for k, c in unsaved if k == kind} - set(mine))
            if not ids:
                continue
            if self._stopping.is_set():  # stopping: the rest stays queued for the next start
                with self._lock:
                    self._unsaved |= {(k, c) for k, c in unsaved if k == kind}
                continue
            batches = [ids]
            while batches:
                batch = batches.pop(0)
                try:
                    self._push(kind, batch, {c: mine[c] for c in batch if c in mine})
                except Exception as exc:
                    failed = True
                    log.exception("feature push of %s failed for %d customers", kind, len(batch))
                    if len(batch) > 1:  # one by one: one bad customer must not block the others
                        batches = [[c] for c in batch]
                        continue
                    if len(batches) == len(ids) - 1:  # the very first alone failed too: the store is down
                        batch, batches = ids, []
                    self._failed(kind, batch, exc)
        return failed

    def _push(self, kind: Kind, ids: list[str], versions: dict[str, int]) -> None:
        started = time.perf_counter()
        n = (self.push if kind == "sales" else self.push_sentiment)(ids)
        log.debug("feature push: %s of %d customers in %.0f ms", kind, n, 1000 * (time.perf_counter() - started))
        done(self.engine, kind, list(versions.items()))

    def _failed(self, kind: Kind, ids: list[str], exc: Exception) -> None:
        """Keep these queued (counting an attempt); in memory if the database cannot take them either."""
        try:
            enqueue(self.engine, kind, ids, error=f"{type(exc).__name__}: {exc}")
        except Exception:
            with self._lock:
                self._unsaved |= {(kind, c) for c in ids}
