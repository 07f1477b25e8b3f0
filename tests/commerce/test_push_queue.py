"""Feature pushes survive a stop and a failure: queued (sales and feedback) and failed pushes are made at the next
start, and a clean shutdown stops the push and webhook threads.

The pushers here record what they were asked to push instead of writing to a Feast store (the queue is the
subject); `tests/integration/test_fresh_features.py` covers the real pushes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retail.db import connect
from retail.workspace import Workspace
from serving.commerce import push

WAIT_S = 60.0  # a generous bound for a background thread to get to it; never a measured time


class Recording(push.Pusher):
    """Records each push instead of computing rows; `fail` raises as a push to a stopped Redis does."""

    def __init__(self, ws: Workspace, engine: Engine, fail: bool = False) -> None:
        super().__init__(ws, engine)
        self.retry_s = 0.05  # retry at once in these tests
        self.fail = fail
        self.tried: list[tuple[str, list[str]]] = []
        self.pushed_ids: list[tuple[str, list[str]]] = []

    def push(self, customer_ids: Iterable[str]) -> int:
        return self._record("sales", customer_ids)

    def push_sentiment(self, customer_ids: Iterable[str]) -> int:
        return self._record("feedback", customer_ids)

    def _record(self, kind: str, customer_ids: Iterable[str]) -> int:
        ids = sorted(set(customer_ids))
        if not ids:
            return 0
        self.tried.append((kind, ids))
        if self.fail:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.pushed_ids.append((kind, ids))
        return len(ids)

    def has_pushed(self, kind: str, customer_id: str) -> bool:
        return any(k == kind and customer_id in ids for k, ids in self.pushed_ids)


def wait_for(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def push_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "feature-push"]


@pytest.fixture
def engine(db_url: str) -> Engine:
    return connect(db_url)


def test_a_failed_push_is_made_after_a_restart(engine: Engine, tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path)
    first = Recording(ws, engine, fail=True)  # the online store is down
    stop = first.start()
    first.notify("C1")
    first.notify("C2", "feedback")
    assert wait_for(lambda: {k for k, _ in first.tried} == {"sales", "feedback"}), first.tried
    stop()
    assert not first.pushed_ids
    second = Recording(ws, engine)  # the next start, with the store back
    stop = second.start()
    try:
        assert wait_for(lambda: second.has_pushed("sales", "C1") and second.has_pushed("feedback", "C2")), second.tried
    finally:
        stop()


def test_pushes_queued_at_stop_are_made_at_the_next_start(engine: Engine, tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path)
    first = Recording(ws, engine)
    first.notify("C1")  # queued, never pushed: the process stops first
    first.notify("C2", "feedback")
    del first  # the process ends before its pusher got to them
    second = Recording(ws, engine)
    stop = second.start()
    try:
        assert wait_for(lambda: second.has_pushed("sales", "C1") and second.has_pushed("feedback", "C2")), second.tried
    finally:
        stop()


def test_failed_pushes_are_retried_without_a_restart_and_counted(engine: Engine, tmp_path: Path) -> None:
    from serving.commerce.tables import PendingPush

    pusher = Recording(Workspace.at(tmp_path), engine, fail=True)
    stop = pusher.start()
    try:
        pusher.notify("C1")
        assert wait_for(lambda: len(pusher.tried) >= 2)  # retried with backoff while the store is down
        with Session(engine) as s:
            row = s.scalars(select(PendingPush)).one()
        assert (row.customer_id, row.kind) == ("C1", "sales") and row.attempts >= 1
        assert row.last_error is not None and "Connection refused" in row.last_error
        pusher.fail = False  # the store is back
        assert wait_for(lambda: pusher.has_pushed("sales", "C1"))
        assert wait_for(lambda: not push.queued(engine))  # a successful push leaves the queue
    finally:
        stop()


def test_one_failing_customer_does_not_block_the_others(engine: Engine, tmp_path: Path) -> None:
    class OneBad(Recording):
        def _record(self, kind: str, customer_ids: Iterable[str]) -> int:
            ids = sorted(set(customer_ids))
            if "BAD" in ids:
                self.tried.append((kind, ids))
                raise ValueError("cannot compute this customer's rows")
            return super()._record(kind, ids)

    push.enqueue(engine, "sales", ["BAD"], error="ValueError: earlier")
    pusher = OneBad(Workspace.at(tmp_path), engine)
    for customer_id in ("C1", "C2"):
        pusher.notify(customer_id)
    stop = pusher.start()
    try:
        assert wait_for(lambda: pusher.has_pushed("sales", "C1") and pusher.has_pushed("sales", "C2"))
        assert wait_for(lambda: [c for _, c, _ in push.queued(engine)] == ["BAD"])  # kept, not dropped
    finally:
        stop()


def test_a_change_during_a_push_stays_queued(engine: Engine, tmp_path: Path) -> None:
    """A push clears only the version it read: a notify that lands meanwhile is pushed again."""
    pusher = Recording(Workspace.at(tmp_path), engine)
    push.enqueue(engine, "sales", ["C1"])
    [(_, _, version)] = push.queued(engine)
    push.enqueue(engine, "sales", ["C1"])  # changed again after the push read the queue
    push.done(engine, "sales", [("C1", version)])
    assert [(k, c) for k, c, _ in push.queued(engine)] == [("sales", "C1")]
    assert pusher.drain() is False and pusher.has_pushed("sales", "C1")
    assert push.queued(engine) == []


def test_stop_joins_the_push_thread(engine: Engine, tmp_path: Path) -> None:
    pusher = Recording(Workspace.at(tmp_path), engine)
    stop = pusher.start()
    assert push_threads()
    stop()
    assert not push_threads()


def test_service_shutdown_stops_the_push_and_webhook_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """BentoML calls the service's `on_shutdown` hook: no push or webhook thread outlives it."""
    ws = Workspace.at(tmp_path).ensure()
    (ws.feature_repo / "feature_store.yaml").write_text("project: retail\n")  # a pusher starts for a Feast repo
    monkeypatch.setenv("RETAIL_WORKSPACE", str(tmp_path))
    monkeypatch.delenv("RETAIL_DATABASE_URL", raising=False)
    from serving.service import Retail, app

    for name in ("runtime", "db_engine", "pusher", "batchers"):  # the module's app: restored after the test
        monkeypatch.setattr(app.state, name, None, raising=False)
    service = Retail()
    names = {t.name for t in threading.enumerate()}
    assert {"feature-push", "webhooks"} <= names, names
    service.shutdown()  # type: ignore[attr-defined]
    alive = {t.name for t in threading.enumerate() if t.is_alive()}
    assert not alive & {"feature-push", "webhooks"}, alive
    for loading in [t for t in threading.enumerate() if t.name == "load-models"]:
        loading.join(WAIT_S)  # (it fails: no models here) not left running when the interpreter exits
