"""The network guard: a pure ASGI middleware that refuses abuse before the app reads a request's body.

FastAPI reads and parses a body before any dependency runs, so `require` alone lets anyone make the service read,
and parse, a body of any size. The guard runs first:

- Every path but the public ones (`PUBLIC`: the docs; `UNLIMITED`: health and metrics) needs a valid key, looked
  up as `require` does (`auth.identify`, same cache), else 401 with not a byte of the body read. Roles are still
  checked by each route's `require`, which then finds the key in the cache.
- Bodies larger than `max_body_bytes` (default 1 MiB) answer 413: a `Content-Length` over it at once, a chunked
  body once the bytes that arrived pass it (Starlette's own limit counts them). A route may allow more with
  FastAPI's `max_body_size=` (`/sentiment`: 4 MiB, `serving.endpoints.sentiment.MAX_BODY_BYTES`).
- Requests are counted per key at its role's rate (`retail.settings.RATE_LIMITS`, `RETAIL_RATE_LIMITS`), and
  per client address when they carry no valid key (`anonymous`); over the rate they answer 429 with
  `Retry-After`. An address over its anonymous rate gets 429 before any key look-up that would need the
  database, so guessing keys costs the service no queries. Health checks and metrics are never limited.

Counts live in `limits`' memory storage, per worker process (like the key cache): with N workers a key may make
up to N times its rate. Behind a proxy, run uvicorn with `--forwarded-allow-ips` so the client address is the
caller's, not the proxy's.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import iter_route_contexts
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.routing import Match, get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

from retail.settings import RATE_LIMITS, Settings, get_settings
from serving import sessions
from serving.auth import ROLES, identify

log = logging.getLogger(__name__)

PUBLIC = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})  # no key; counted per address
UNLIMITED = frozenset({"/healthz", "/livez", "/readyz", "/metrics"})  # no key, never counted
PAGES = sessions.PREFIX  # staff pages: a session cookie instead of a key; without one, the browser goes to sign-in
PAGES_PUBLIC = ("/ui/login", "/ui/static/")  # the sign-in form and the pages' scripts and styles
ANONYMOUS = "anonymous"

_limiters: list[SlidingWindowCounterRateLimiter] = []  # one per process, made at first use (its storage starts a timer)
_limiters_lock = threading.Lock()
_DETAIL = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
DOCUMENTED: dict[str, dict[str, Any]] = {
    "401": {"description": "No API key, or an unknown or revoked one (`Authorization: Bearer`)."},
    "413": {
        "description": "The body is larger than the service reads: 1 MiB (`RETAIL_MAX_BODY_BYTES`), /sentiment 4 MiB."
    },
    "429": {
        "description": "Too many requests for this key's role (or, without a valid key, from this address); "
        "wait the `Retry-After` seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
    },
}


def _limiter() -> SlidingWindowCounterRateLimiter:
    if not _limiters:
        with _limiters_lock:
            if not _limiters:
                _limiters.append(SlidingWindowCounterRateLimiter(MemoryStorage()))
    return _limiters[0]


def forget() -> None:
    """Empty this process's request counts (between tests)."""
    if _limiters:
        _limiters[0].storage.reset()


def rates(settings: Settings) -> dict[str, list[RateLimitItem]]:
    """Each role's limits (and `anonymous`'s), defaults overridden by `settings.rate_limits`; bad ones named."""
    merged = {**RATE_LIMITS, **settings.rate_limits}
    unknown = sorted(set(merged) - set(ROLES) - {ANONYMOUS})
    if unknown:
        raise ValueError(f"RETAIL_RATE_LIMITS names unknown roles {unknown}: use {', '.join((*ROLES, ANONYMOUS))}")
    parsed = {}
    for role, text in merged.items():
        try:
            parsed[role] = parse_many(text)
        except ValueError:
            raise ValueError(
                f"RETAIL_RATE_LIMITS[{role!r}] = {text!r} is not a rate like '600/minute' or '10/second;600/minute'"
            ) from None
    return parsed


class Guard:
    """Key check, body limit and rate limits in front of an ASGI app (`install` puts it on a FastAPI app)."""

    def __init__(self, app: ASGIApp, settings: Settings | None = None) -> None:
        settings = settings or get_settings()  # read when the app's middleware is built, not at import
        self.rates = rates(settings)
        self.max_body = settings.max_body_bytes
        self.app = RequestBodyLimitMiddleware(app, max_body_size=self.max_body)  # counts bodies as they stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or get_route_path(scope) in UNLIMITED:
            await self.app(scope, receive, send)
            return
        refusal = await self._refusal(Request(scope))
        if refusal is None:
            await self.app(scope, receive, send)
        else:  # answered without reading the body; the server drops what the client still sends
            await refusal(scope, receive, send)

    async def _refusal(self, request: Request) -> Response | None:
        declared = request.headers.get("content-length", "")
        # routes only ever allow more than the service's limit, so only a larger body needs its route's
        if declared.isdigit() and int(declared) > self.max_body and int(declared) > self._body_limit(request.scope):
            return JSONResponse({"detail": "Content Too Large"}, status_code=413)
        address = request.client.host if request.client else "unknown"
        path = get_route_path(request.scope)
        if path in PUBLIC:
            return self._count(ANONYMOUS, address)
        if path == PAGES or path.startswith(PAGES + "/"):
            return await self._page(request, path, address)
        try:  # an address over its anonymous rate keeps only keys this process knows: no database look-up
            caller = await identify(request, cached_only=self._spent(ANONYMOUS, address))
        except HTTPException as exc:
            return self._count(ANONYMOUS, address) or JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        request.state.caller = caller  # the route's `require` takes it from here instead of hashing the key again
        return self._count(caller.role, str(caller.key_id))

    async def _page(self, request: Request, path: str, address: str) -> Response | None:
        """A staff page: its session (never a bearer key), or a redirect to sign-in that comes back here."""
        if path.startswith(PAGES_PUBLIC):
            return self._count(ANONYMOUS, address)
        found = await sessions.from_request(request)
        if found is None:
            back = path if request.method == "GET" else "/ui/"
            return self._count(ANONYMOUS, address) or RedirectResponse(f"/ui/login?{urlencode({'next': back})}", 303)
        request.state.caller = found.caller
        request.state.signed = found
        return self._count(found.caller.role, str(found.caller.key_id))

    def _body_limit(self, scope: Scope) -> int:
        """The limit of the route the request goes to (FastAPI's `max_body_size=`), else the service's."""
        for route in iter_route_contexts(getattr(scope.get("app"), "routes", [])):
            if route.matches(scope)[0] is Match.FULL:
                return getattr(route, "max_body_size", None) or self.max_body
        return self.max_body

    def _spent(self, bucket: str, who: str) -> bool:
        return not all(_limiter().test(item, bucket, who) for item in self.rates[bucket])

    def _count(self, bucket: str, who: str) -> JSONResponse | None:
        """Count one request for `who`; the 429 when it is over one of its bucket's limits."""
        for item in self.rates[bucket]:
            if not _limiter().hit(item, bucket, who):
                reset = _limiter().get_window_stats(item, bucket, who).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                whose = "from this address without a valid key" if bucket == ANONYMOUS else f"for a {bucket} key"
                log.info("429: %s %s over %s", bucket, who, item)
                return JSONResponse(
                    {"detail": f"too many requests {whose} (at most {item}); retry in {wait} s"},
                    status_code=429,
                    headers={"Retry-After": str(wait)},
                )
        return None


def install(app: FastAPI) -> None:
    """Put the guard in front of `app`, and its 401, 413 and 429 answers in the app's OpenAPI schema."""
    app.add_middleware(Guard)
    app.openapi = _documenting(app.openapi)  # type: ignore[method-assign]


def _documenting(build: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    def openapi() -> dict[str, Any]:
        schema = build()
        for path, operations in schema.get("paths", {}).items():
            if path in PUBLIC or path in UNLIMITED:
                continue
            for operation in operations.values():
                if not isinstance(operation, dict):
                    continue
                answers = operation.setdefault("responses", {})
                for status, doc in DOCUMENTED.items():
                    if status == "413" and "requestBody" not in operation:
                        continue
                    answers.setdefault(status, {**doc, "content": {"application/json": {"schema": _DETAIL}}})
        return schema

    return openapi
