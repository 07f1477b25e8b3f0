"""API keys with roles: who may call which endpoint, and for which customer or store.

A key is `rk_` + an 8-character lookup id + a random secret (`secrets.token_urlsafe(32)`). It is shown once;
only its SHA-256 is stored, found by its first 11 characters (`prefix`, also what `retail keys list` shows)
and compared in constant time.

Look-ups are cached in memory for `CACHE_SECONDS` per process, so a model endpoint pays no database round trip
per request (a cached key costs a hash and a dict look-up, a few microseconds). The price: a revoked key keeps
working for up to `CACHE_SECONDS` in a process that had just seen it (each Bento worker has its own cache).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import DateTime, Engine, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from retail import db
from retail.db import Base
from serving.deps import database

ROLES = ("admin", "ops", "marketing", "planner", "sales_rep", "store", "customer", "app")
KEY_START = "rk_"
PREFIX_LENGTH = len(KEY_START) + 8
CACHE_SECONDS = 5.0  # how long a revoked key may still work in a process that had just seen it
CACHE_MAX = 10_000  # distinct keys (valid or not) remembered per process; the cache is emptied when full

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer rk_...` (`retail keys create`).")
_cache: dict[tuple[int, str], tuple[float, Caller | None]] = {}
_cache_lock = threading.Lock()
_MISS = object()


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's id (for audit columns), role and the customer or store it is bound to."""

    key_id: int
    role: str
    customer_id: str | None
    store_id: str | None


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; `prefix` (its first characters) finds it and names it in lists."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    store_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Denied(BaseModel):
    """401 or 403: why the request was refused."""

    detail: str


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Denied, "description": "No API key, or an unknown or revoked one (`Authorization: Bearer`)."},
    403: {"model": Denied, "description": "The key's role, customer or store may not do this."},
}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    engine: Engine,
    role: str,
    customer_id: str | None = None,
    store_id: str | None = None,
    name: str | None = None,
) -> tuple[str, ApiKey]:
    """A new key: the plaintext (shown once, never stored) and its row."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    if role == "customer" and not customer_id:
        raise ValueError("a customer key needs --customer-id: the customer it reads and writes for")
    if role == "store" and not store_id:
        raise ValueError("a store key needs --store-id: the store it acts for")
    if customer_id and role != "customer":
        raise ValueError(f"--customer-id binds only customer keys, not {role} keys")
    if store_id and role != "store":
        raise ValueError(f"--store-id binds only store keys, not {role} keys")
    with Session(engine, expire_on_commit=False) as s, s.begin():
        while True:  # 48 random bits of lookup id: a clash is all but impossible, but a retry costs nothing
            key = f"{KEY_START}{secrets.token_urlsafe(6)}_{secrets.token_urlsafe(32)}"
            prefix = key[:PREFIX_LENGTH]
            if s.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
                break
        row = ApiKey(
            prefix=prefix,
            key_hash=_digest(key),
            role=role,
            customer_id=customer_id,
            store_id=store_id,
            name=name,
            created_at=_now(),
        )
        s.add(row)
    return key, row


def list_keys(engine: Engine) -> list[ApiKey]:
    with Session(db.reader(engine), expire_on_commit=False) as s:
        return list(s.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(engine: Engine, prefix: str) -> ApiKey:
    """Revoke the key with this prefix (or whole key); it stops working within `CACHE_SECONDS` everywhere."""
    prefix = prefix[:PREFIX_LENGTH]
    with Session(engine, expire_on_commit=False) as s, s.begin():
        row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if row is None:
            raise ValueError(f"no API key has the prefix {prefix!r}: see `retail keys list`")
        if row.revoked_at is None:
            row.revoked_at = _now()
    forget()
    return row


def forget() -> None:
    """Empty this process's cache of key look-ups (after a revocation, and between tests)."""
    with _cache_lock:
        _cache.clear()


def lookup(engine: Engine, key: str) -> Caller | None:
    """The caller a key stands for, or None when it is unknown or revoked; cached for `CACHE_SECONDS`."""
    digest = _digest(key)
    hit = _cached(engine, digest)
    if hit is not _MISS:
        return hit  # type: ignore[return-value]
    caller = _load(engine, key[:PREFIX_LENGTH], digest)
    _remember((id(engine), digest), caller)
    return caller


def _cached(engine: Engine, digest: str) -> Caller | None | object:
    hit = _cache.get((id(engine), digest))
    if hit is None or hit[0] <= time.monotonic():
        return _MISS
    return hit[1]


def _load(engine: Engine, prefix: str, digest: str) -> Caller | None:
    with Session(db.reader(engine)) as s:
        row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest):
            return None
        return Caller(key_id=row.id, role=row.role, customer_id=row.customer_id, store_id=row.store_id)


def _remember(cache_key: tuple[int, str], caller: Caller | None) -> None:
    with _cache_lock:
        if len(_cache) >= CACHE_MAX:
            _cache.clear()
        _cache[cache_key] = (time.monotonic() + CACHE_SECONDS, caller)


def _engine(request: Request) -> Engine:
    """The app's database, honouring a test's `dependency_overrides[database]`."""
    provider = request.app.dependency_overrides.get(database, database)
    return provider(request)


async def _engine_async(request: Request) -> Engine:
    """The engine `database` keeps on the app, without a thread hop once it is there; else opened in a thread."""
    engine: Engine | None = getattr(request.app.state, "db_engine", None)
    if engine is None or database in request.app.dependency_overrides:
        return await run_in_threadpool(_engine, request)
    return engine


async def engine_for(request: Request) -> Engine:
    """The app's database for a request (what `require` reads keys from)."""
    return await _engine_async(request)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def require(*roles: str) -> Callable[..., Awaitable[Caller]]:
    """A FastAPI dependency admitting keys of these roles: `Annotated[Caller, Depends(require("admin"))]`.

    Async on purpose: a cached key is checked on the event loop with no thread hop; only a cache miss reads the
    database, in the thread pool.
    """
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"require() needs roles from {ROLES}, got {sorted(unknown) or 'none'}")
    allowed = frozenset(roles)

    async def caller(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Caller:
        found = await identify(request, credentials)
        if found.role not in allowed:
            raise HTTPException(status_code=403, detail=f"a {found.role} key may not call this endpoint")
        return found

    return caller


async def identify(
    request: Request, credentials: HTTPAuthorizationCredentials | None = None, *, cached_only: bool = False
) -> Caller:
    """The caller behind the request's bearer key, or the 401 `require` answers: missing, malformed, unknown, revoked.

    `serving.guard` calls it before a body is read (`credentials` read from the headers when not given), so the
    route's `require` finds the key in the cache. With `cached_only`, a key this process has not looked up in the
    last `CACHE_SECONDS` is refused too, without a database round trip.
    """
    known = getattr(request.state, "caller", None)  # the guard's, for this request
    if isinstance(known, Caller):
        return known
    if credentials is None:
        credentials = await _bearer(request)
    if credentials is None:
        raise _unauthorized("missing API key: send `Authorization: Bearer KEY`")
    key = credentials.credentials
    if not key.startswith(KEY_START) or not PREFIX_LENGTH < len(key) <= 128:
        raise _unauthorized("invalid API key")
    engine = await _engine_async(request)
    found = _cached(engine, _digest(key))
    if found is _MISS and not cached_only:
        found = await run_in_threadpool(lookup, engine, key)
    if not isinstance(found, Caller):
        raise _unauthorized("unknown or revoked API key")
    return found


def check_customer(caller: Caller, customer_id: str | None) -> None:
    """403 when a customer key touches another customer's data, or a guest's (`customer_id` None)."""
    if caller.role == "customer" and customer_id != caller.customer_id:
        raise HTTPException(status_code=403, detail="a customer key may only act for its own customer")


def check_store(caller: Caller, store_id: str) -> None:
    """403 when a store key acts for another store."""
    if caller.role == "store" and store_id != caller.store_id:
        raise HTTPException(status_code=403, detail="a store key may only act for its own store")


def key_label(s: Session, key_id: int) -> str:
    """The key's name as audits record it, its prefix when it has none (keys are revoked, never deleted)."""
    found = s.get(ApiKey, key_id)
    return (found.name or found.prefix) if found is not None else ""
