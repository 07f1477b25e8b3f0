"""Staff page sessions: the signed cookie (forged, altered, old ones refused) and the session row behind it (expiry,
signing out, a revoked key), on a workspace's SQLite database."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retail import db
from retail.settings import Settings
from retail.workspace import Workspace
from serving import sessions
from serving.auth import create_key, forget, revoke_key

KEY = "a-test-secret-of-enough-length-000000"


def test_a_cookie_signed_with_the_key_gives_back_its_token() -> None:
    cookie = sessions.serializer(KEY).dumps("token-1")
    assert sessions.read_cookie(KEY, cookie, 3600) == "token-1"


@pytest.mark.parametrize("value", [None, "", "token-1", "not.a.cookie", "a" * 300])
def test_a_missing_or_unsigned_cookie_reads_as_no_session(value: str | None) -> None:
    assert sessions.read_cookie(KEY, value, 3600) is None


def test_a_cookie_signed_with_another_secret_or_salt_is_refused() -> None:
    assert sessions.read_cookie(KEY, sessions.serializer("another-secret").dumps("token-1"), 3600) is None
    assert sessions.read_cookie(KEY, sessions.serializer(KEY, salt="other").dumps("token-1"), 3600) is None


def test_an_altered_cookie_is_refused() -> None:
    cookie = sessions.serializer(KEY).dumps("token-1")
    payload, rest = cookie.split(".", 1)
    forged = sessions.serializer("x").dumps("token-2").split(".", 1)[0] + "." + rest
    assert sessions.read_cookie(KEY, forged, 3600) is None
    flipped = cookie[:-1] + ("A" if cookie[-1] != "A" else "B")
    assert sessions.read_cookie(KEY, flipped, 3600) is None


def test_a_signed_value_that_is_not_a_token_is_refused() -> None:
    assert sessions.read_cookie(KEY, sessions.serializer(KEY).dumps({"token": "x"}), 3600) is None
    assert sessions.read_cookie(KEY, sessions.serializer(KEY).dumps(12), 3600) is None


def test_a_cookie_older_than_the_session_length_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    cookie = sessions.serializer(KEY).dumps("token-1")
    now = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: now(self) + 3 * 3600)
    assert sessions.read_cookie(KEY, cookie, 4 * 3600) == "token-1"
    assert sessions.read_cookie(KEY, cookie, 2 * 3600) is None


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    forget()  # key look-ups are cached per process: start from none
    return db.engine(Workspace.at(tmp_path).ensure(), Settings(workspace=tmp_path))


def test_a_session_stands_for_its_key_until_it_expires(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    key, row = create_key(engine, "planner", name="planning desk")
    started = sessions.start(engine, key, hours=8)
    assert started is not None
    token, expires = started
    found = sessions.find(engine, token)
    assert found is not None
    assert (found.caller.role, found.caller.key_id, found.label) == ("planner", row.id, "planning desk")
    assert found.expires_at == expires and len(found.csrf) >= 32
    assert sessions.find(engine, token + "x") is None
    real_now = sessions._now
    monkeypatch.setattr(sessions, "_now", lambda: real_now() + timedelta(hours=7, minutes=59))
    assert sessions.find(engine, token) is not None
    monkeypatch.setattr(sessions, "_now", lambda: real_now() + timedelta(hours=8, minutes=1))
    assert sessions.find(engine, token) is None


def test_the_session_table_keeps_no_token_or_key(engine: Engine) -> None:
    key, _ = create_key(engine, "admin")
    started = sessions.start(engine, key, hours=1)
    assert started is not None
    with Session(engine) as s:
        stored = s.execute(select(sessions.WebSession)).scalar_one()
    assert stored.token_hash != started[0] and started[0] not in stored.token_hash
    assert key not in {stored.token_hash, stored.csrf}


def test_each_session_has_its_own_csrf_token(engine: Engine) -> None:
    key, _ = create_key(engine, "admin")
    one, two = sessions.start(engine, key, hours=1), sessions.start(engine, key, hours=1)
    assert one is not None and two is not None
    first, second = sessions.find(engine, one[0]), sessions.find(engine, two[0])
    assert first is not None and second is not None and first.csrf != second.csrf


def test_an_unknown_or_revoked_key_starts_no_session(engine: Engine) -> None:
    key, row = create_key(engine, "admin")
    assert sessions.start(engine, "rk_unknown_key", hours=1) is None
    revoke_key(engine, row.prefix)
    assert sessions.start(engine, key, hours=1) is None


def test_revoking_the_key_ends_its_sessions(engine: Engine) -> None:
    key, row = create_key(engine, "ops")
    started = sessions.start(engine, key, hours=1)
    assert started is not None and sessions.find(engine, started[0]) is not None
    revoke_key(engine, row.prefix)
    assert sessions.find(engine, started[0]) is None


def test_signing_out_ends_that_session_only(engine: Engine) -> None:
    key, _ = create_key(engine, "admin")
    here, there = sessions.start(engine, key, hours=1), sessions.start(engine, key, hours=1)
    assert here is not None and there is not None
    sessions.end(engine, here[0])
    sessions.end(engine, here[0])  # twice: nothing more happens
    sessions.end(engine, "never-a-token")
    assert sessions.find(engine, here[0]) is None
    assert sessions.find(engine, there[0]) is not None


def test_sessions_long_over_are_forgotten_at_the_next_sign_in(engine: Engine) -> None:
    key, _ = create_key(engine, "admin")
    old = sessions.start(engine, key, hours=-(sessions.KEEP_ENDED.total_seconds() / 3600 + 1))
    recent = sessions.start(engine, key, hours=-1)  # expired, but kept a while longer
    assert old is not None and recent is not None
    sessions.start(engine, key, hours=1)
    with Session(engine) as s:
        kept = s.scalars(select(sessions.WebSession.token_hash)).all()
        assert s.scalar(select(func.count()).select_from(sessions.WebSession)) == 2
    assert sessions._digest(old[0]) not in kept and sessions._digest(recent[0]) in kept


def test_the_secret_is_made_once_per_workspace_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path).ensure()
    made = sessions.secret(ws, Settings(workspace=tmp_path))
    assert len(made) >= 48 and sessions.secret(ws, Settings(workspace=tmp_path)) == made
    mode = stat.S_IMODE((tmp_path / "data" / "session.key").stat().st_mode)
    assert mode == 0o600
    assert sessions.secret(ws, Settings(workspace=tmp_path, session_secret="from-the-environment")) == (
        "from-the-environment"
    )
