"""Staff page sessions: an API key signs in once, the browser then carries a signed session cookie.

A session is a row (`web_sessions`) keyed by the SHA-256 of a random token; the cookie holds the token signed
with `itsdangerous` (the workspace's session secret), so a forged or altered cookie is refused before any
database look-up. Sessions expire after `session_hours` and signing out ends them at once. Each session has
its own CSRF token, which every form of the pages carries. The key itself is never stored in the session or
shown by a page.

Cookies are honoured only under `/ui/`: the JSON API takes bearer keys alone, so a page's cookie can never be
used to call it from another site.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import DateTime, Engine, ForeignKey, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from retail import db
from retail.db import Base
from retail.settings import Settings, get_settings
from retail.workspace import Workspace
from serving.auth import ApiKey, Caller, engine_for, lookup

COOKIE = "retail_session"
LOGIN_COOKIE = "retail_login"  # the sign-in form's CSRF token (double submit: cookie and form field must match)
PREFIX = "/ui"
KEEP_ENDED = timedelta(days=7)  # expired sessions are deleted this long after they expire (at the next sign-in)


class WebSession(Base):
    """A signed-in staff member: which key signed in, until when, and the CSRF token of their forms."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


@dataclass(frozen=True)
class Signed:
    """Who a session stands for, its CSRF token and the name of the key (for the page header)."""

    caller: Caller
    csrf: str
    label: str
    expires_at: datetime


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def secret(ws: Workspace, settings: Settings) -> str:
    """`RETAIL_SESSION_SECRET`, else a random key made once and kept in the workspace (readable by its owner only)."""
    if settings.session_secret:
        return settings.session_secret
    path = ws.root / "data" / "session.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "x", opener=lambda p, flags: os.open(p, flags, 0o600)) as f:
                f.write(secrets.token_urlsafe(48))
        except FileExistsError:
            pass  # another worker made it first
    return path.read_text().strip()


def serializer(key: str, salt: str = "retail-session") -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=salt)


def start(engine: Engine, key: str, hours: float) -> tuple[str, datetime] | None:
    """Sign in with an API key: the new session's token and expiry, or None for an unknown or revoked key."""
    caller = lookup(engine, key)
    if caller is None:
        return None
    token = secrets.token_urlsafe(32)
    now = _now()
    expires = now + timedelta(hours=hours)
    with Session(engine) as s, s.begin():
        s.execute(delete(WebSession).where(WebSession.expires_at < now - KEEP_ENDED))  # long over: forget them
        s.add(
            WebSession(
                token_hash=_digest(token),
                key_id=caller.key_id,
                csrf=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=expires,
            )
        )
    return token, expires


def find(engine: Engine, token: str) -> Signed | None:
    """The live session behind a token: not ended, not expired, its key not revoked."""
    with Session(db.reader(engine)) as s:
        row = s.execute(
            select(WebSession, ApiKey)
            .join(ApiKey, ApiKey.id == WebSession.key_id)
            .where(WebSession.token_hash == _digest(token))
        ).first()
    if row is None:
        return None
    session, key = row
    if session.ended_at is not None or session.expires_at <= _now() or key.revoked_at is not None:
        return None
    caller = Caller(key_id=key.id, role=key.role, customer_id=key.customer_id, store_id=key.store_id)
    return Signed(caller, session.csrf, key.name or key.prefix, session.expires_at)


def end(engine: Engine, token: str) -> None:
    """Sign out: the session stops working at once, whoever holds its cookie."""
    with Session(engine) as s, s.begin():
        row = s.scalar(select(WebSession).where(WebSession.token_hash == _digest(token)))
        if row is not None and row.ended_at is None:
            row.ended_at = _now()


def read_cookie(key: str, value: str | None, max_age_s: float) -> str | None:
    """The token inside a signed cookie, or None when it is missing, forged or older than `max_age_s`."""
    if not value:
        return None
    try:
        token = serializer(key).loads(value, max_age=int(max_age_s))
    except BadSignature:
        return None
    return token if isinstance(token, str) else None


@dataclass(frozen=True)
class Config:
    key: str  # signs cookies
    hours: float  # how long a session lasts


def config(request: Request) -> Config:
    """The app's session secret and length (`app.state.sessions`, made from the settings at first use)."""
    found = getattr(request.app.state, "sessions", None)
    if not isinstance(found, Config):
        settings = get_settings()
        found = Config(secret(Workspace.at(settings.workspace), settings), settings.session_hours)
        request.app.state.sessions = found
    return found


async def from_request(request: Request) -> Signed | None:
    """The live session behind the request's cookie, or None (no cookie, a forged or old one, ended, revoked)."""
    conf = config(request)
    token = read_cookie(conf.key, request.cookies.get(COOKIE), conf.hours * 3600)
    if token is None:
        return None
    return await run_in_threadpool(find, await engine_for(request), token)
