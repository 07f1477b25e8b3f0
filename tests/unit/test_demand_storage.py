"""Demand records in the application database: reads never take SQLite's write lock; changes name their API key."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from sqlalchemy import event

from retail import db
from retail.settings import Settings
from retail.workspace import Workspace
from serving.auth import create_key, key_label
from training.demand import adapter, storage
from training.demand.dataset import Spec
from training.demand.pyfunc import DemandModel
from training.demand.tables import ForecastOverride

AS_OF = pd.Timestamp("2026-07-01")


@pytest.fixture
def ws(tmp_path: Path) -> tuple[Workspace, Settings]:
    """A workspace with the service's stored forecast for P1 (5 days from AS_OF) and one override in force."""
    ws, settings = Workspace.at(tmp_path).ensure(), Settings(workspace=tmp_path)
    ws.write_meta(data_end=f"{AS_OF:%Y-%m-%d}")
    rows = pd.DataFrame(
        {"product_id": "P1", "ds": pd.date_range(AS_OF, periods=5), "p10": 1.0, "p50": 2.0, "p90": 4.0, "price": 3.0}
    )
    with db.session(ws, settings) as s:
        storage.store_run(s, rows, "1", AS_OF, "product", "D", adapter.SOURCE)
        asked = storage.OverrideRequest("P1", "", date(2026, 7, 2), date(2026, 7, 3), 9.0, None, "fair", "ann")
        storage.create_override(s, asked, None)
    return ws, settings


@pytest.fixture
def write_locked(ws: tuple[Workspace, Settings]) -> Iterator[None]:
    """Another connection holds SQLite's write lock (as a CLI import or a long order transaction would).

    The engine's busy timeout drops to 0.2 s for the test, so a read that wrongly queues for the lock fails at
    once instead of after the service's 30 s.
    """
    engine = db.engine(*ws)
    event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA busy_timeout=200"))
    engine.dispose()  # new connections get the short timeout
    holder = sqlite3.connect(ws[0].root / "data" / "app.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield
    holder.execute("ROLLBACK")
    holder.close()


def _adapter(ws: Workspace) -> adapter.DemandAdapter:
    """The service's demand adapter over the stored forecast (a stand-in forecaster: nothing is refit)."""
    model = DemandModel(SimpleNamespace(spec=Spec(horizon=5)), "product")  # type: ignore[arg-type]
    return adapter.DemandAdapter(model, "1", ws)


def test_forecast_and_override_reads_answer_while_another_connection_holds_the_write_lock(
    ws: tuple[Workspace, Settings], write_locked: None
) -> None:
    demand = _adapter(ws[0])  # loads the stored forecast: a read
    rows = demand.series("P1", "", 5)
    assert rows["adjusted"].tolist() == [2.0, 9.0, 9.0, 2.0, 2.0]
    with storage.reading(*ws) as s:
        assert [o.author for o in storage.list_overrides(s, "P1", include_closed=False)] == ["ann"]


def test_reads_start_a_deferred_transaction(ws: tuple[Workspace, Settings]) -> None:
    engine = db.engine(*ws)
    begins: list[str] = []

    def seen(conn, cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("BEGIN"):
            begins.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    _adapter(ws[0]).series("P1", "", 5)
    with storage.reading(*ws) as s:
        storage.stored_values(s, AS_OF, AS_OF + pd.Timedelta(days=5))
    event.remove(engine, "before_cursor_execute", seen)
    assert begins and set(begins) == {"BEGIN"}, "no read asks for the write lock (BEGIN IMMEDIATE)"


def test_override_changes_record_the_api_key_that_made_them(ws: tuple[Workspace, Settings]) -> None:
    engine = db.engine(*ws)
    _, planner = create_key(engine, "planner", name="planning app")
    _, admin = create_key(engine, "admin")  # no name: the audit shows its prefix
    with db.session(*ws) as s:
        asked = storage.OverrideRequest("P1", "", date(2026, 7, 3), date(2026, 7, 4), None, 2.0, "ad", "bob")
        made = storage.create_override(s, asked, None, storage.Key(planner.id, key_label(s, planner.id)))
    with db.session(*ws) as s:
        storage.revert_override(s, made.id, "carol", storage.Key(admin.id, key_label(s, admin.id)))
    with storage.reading(*ws) as s:
        stored = s.get(ForecastOverride, made.id)
        assert stored is not None
        assert (stored.key_id, stored.key_name) == (planner.id, "planning app")
        assert (stored.reverted_key_id, stored.reverted_key_name) == (admin.id, admin.prefix)
        trail = [(a.action, a.author, a.key_id, a.key_name) for a in storage.audit_trail(s, made.id)]
        overlapped = [(a.action, a.key_id) for a in storage.audit_trail(s, made.id - 1)]
    assert trail == [
        ("created", "bob", planner.id, "planning app"),
        ("reverted", "carol", admin.id, admin.prefix),
    ]
    assert overlapped == [("created", None), ("overlapped", planner.id)]


def test_an_override_ending_centuries_ahead_leaves_the_forecast_readable(ws: tuple[Workspace, Settings]) -> None:
    """Found by schemathesis: `end` 7944-10-26 was stored, then every read of the series overflowed pandas' dates."""
    with db.session(*ws) as s:
        asked = storage.OverrideRequest("P1", "", date(2026, 7, 5), date(7944, 10, 26), None, 3.0, "for ever", "ann")
        storage.create_override(s, asked, None)
    assert _adapter(ws[0]).series("P1", "", 5)["adjusted"].tolist() == [2.0, 9.0, 9.0, 2.0, 6.0]


def test_an_edit_closes_the_override_and_opens_its_replacement_in_one_transaction(
    ws: tuple[Workspace, Settings],
) -> None:
    """The old one's trail ends "edited" (naming the new one and its own values); the new one records `edit_of` and
    the units the old one made of its days; an edit of a closed override changes nothing."""
    current = pd.DataFrame({"ds": pd.date_range(AS_OF, periods=5), "adjusted": [2.0, 9.0, 9.0, 2.0, 2.0]})
    change = storage.OverrideChange(date(2026, 7, 2), date(2026, 7, 4), None, 1.5, "fair runs longer", "bob")
    with db.session(*ws) as s:
        old_id = s.query(ForecastOverride.id).scalar()
        new = storage.edit_override(s, old_id, change, lambda product, store: current, storage.Key(7, "planner"))
        s.flush()
        new_id = new.id
        assert (new.product_id, new.store_id, new.factor, new.replaced_override_id) == ("P1", "", 1.5, old_id)
        assert new.replaced_value == 9.0 + 9.0 + 2.0
        old_trail = storage.audit_trail(s, old_id)
        new_trail = storage.audit_trail(s, new_id)
    assert [a.action for a in old_trail] == ["created", "edited"] and old_trail[-1].key_id == 7
    assert f'"into": {new_id}' in old_trail[-1].detail and '"value": 9.0' in old_trail[-1].detail
    assert [a.action for a in new_trail] == ["created"] and f'"edit_of": {old_id}' in new_trail[0].detail
    with storage.reading(*ws) as s:
        assert list(storage.active_overrides(s)["id"]) == [new_id]
    with db.session(*ws) as s, pytest.raises(ValueError, match="already reverted by bob"):
        storage.edit_override(s, old_id, change, lambda product, store: current)
    with db.session(*ws) as s, pytest.raises(LookupError):
        storage.edit_override(s, 999, change, lambda product, store: current)
