"""Fresh features: a paid order, a cancel, a return or scored feedback pushes the customer's recomputed rows to
the online store.

The API queues the customer after its transaction commits; one background thread recomputes their rows from the
raw transactions plus the sale lines not exported yet, with the build's own transforms (`features.fresh`), and
writes them through the Feast push sources. So the next /churn, /recommend and profile see the order without a
feature build, and the next build, which first exports those sale lines to the raw data, writes the same values.

Feedback works the same way for the customer's sentiment features: the review scores of the last build plus the
scored feedback in the database, rolled up by `features.sentiment` (the build rolls up the same feedback).

Nothing is lost if the process stops before a push: the lines are in the database, `catch_up` pushes every
customer with unexported lines when the pusher starts, and the next build includes them anyway.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Literal

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from features import fresh, sentiment
from features import store as feature_store
from features.catalog import CUSTOMER_PRODUCTS_PUSH, CUSTOMER_PUSH, CUSTOMER_SENTIMENT_PUSH
from retail import db
from retail.db.tables import SaleLine
from retail.workspace import Workspace
from serving.orders.export import not_in, sale_frame
from serving.orders.feedback import scored_rows

log = logging.getLogger(__name__)
COLUMNS = ["order_id", "customer_id", "product_id", "ts", "quantity", "unit_price"]
Kind = Literal["sales", "feedback"]


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
    """Queues customers whose sales changed and pushes their rows from one background thread."""

    def __init__(self, ws: Workspace, engine: Engine) -> None:
        self.history = History(ws, engine)
        self.ws = ws
        self._store: object | None = None
        self._queue: queue.Queue[tuple[Kind, str] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.pushed = 0

    def notify(self, customer_id: str | None, kind: Kind = "sales") -> None:
        """Queue a customer whose sales (paid lines, returns) or feedback changed; guests have no features."""
        if customer_id is not None:
            self._queue.put((kind, customer_id))

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
        self._thread = threading.Thread(target=self._loop, name="feature-push", daemon=True)
        self._thread.start()

        def stop() -> None:
            self._queue.put(None)
            if self._thread is not None:
                self._thread.join(timeout=10)

        return stop

    def _feature_store(self) -> object:
        if self._store is None:  # its own store object: its own online-store connection, off the request threads
            self._store = feature_store.feature_store(self.ws)
        return self._store

    def _loop(self) -> None:
        try:
            log.info("feature push: caught up %d customers", self.catch_up())
        except Exception:
            log.exception("feature push: catching up failed (the next build includes those sales anyway)")
        while True:
            first = self._queue.get()
            batch = {first}
            while not self._queue.empty():  # everything queued meanwhile goes in one push
                batch.add(self._queue.get_nowait())
            for kind, push in (("sales", self.push), ("feedback", self.push_sentiment)):
                ids = [item[1] for item in batch if item is not None and item[0] == kind]
                if not ids:
                    continue
                try:
                    started = time.perf_counter()
                    n = push(ids)
                    log.debug(
                        "feature push: %s of %d customers in %.0f ms", kind, n, 1000 * (time.perf_counter() - started)
                    )
                except Exception:
                    log.exception("feature push of %s failed for %s (the next build includes them)", kind, ids)
            if None in batch:
                return
