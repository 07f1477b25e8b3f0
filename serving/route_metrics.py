"""Prometheus labels by route template: `/v1/customers/{customer_id}/orders`, never `/v1/customers/C00042/orders`.

BentoML 1.4 counts every HTTP request of a service in `RunnerTrafficMetricsMiddleware`
(`bentoml._internal.server.http.instruments`), the outermost middleware of each service's Starlette app,
which `_bentoml_impl.server.app.ServiceAppFactory.middlewares` imports when a worker builds the app. It labels
`bentoml_service_request_*` with `endpoint=scope["path"]`: the raw path. So customer ids leak into `/metrics`, and
every random path an unauthenticated caller tries adds series that live as long as the worker (on disk in
multiprocess mode). Nothing can run before that middleware, so `label_by_route` puts a subclass in its place
that labels with the template of the route the path matches (BentoML's own routes, the mounted FastAPI app's
routes, a static mount as `/prefix/{path}`), and `UNMATCHED` for any path no route knows: a bounded set of series.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from bentoml._internal.server.http import instruments
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

UNMATCHED = "unmatched"  # the one label of every path no route matches
_REAL_PATH = "retail.real_path"
_Original: Any = instruments.RunnerTrafficMetricsMiddleware


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str | None:
    """The template of the route `scope`'s path matches (a method mismatch counts: it is that route's 405).

    FastAPI keeps included routers as nested routes; `iter_route_contexts` gives each route with its full path.
    """
    partial = None
    for route in iter_route_contexts(list(routes)):
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        path = str(route.path)
        if isinstance(route.original_route, Mount):
            inside = route.original_route.routes
            if inside:  # a mounted app: the route inside it
                inner = route_template(inside, {**scope, **child})
                if inner is not None:
                    return path + inner
                continue
            return path + "/{path}"  # static files and other opaque apps
        if match is Match.FULL:
            return path
        partial = partial or path
    return partial


class _RealPath:
    """Gives the apps inside the metrics middleware the request's real path back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _REAL_PATH in scope:
            scope = {k: v for k, v in scope.items() if k != _REAL_PATH} | {"path": scope[_REAL_PATH]}
        await self.app(scope, receive, send)


class RouteLabelledMetrics(_Original):  # type: ignore[misc, valid-type]
    """BentoML's HTTP traffic metrics, with the route template (or `UNMATCHED`) as the `endpoint` label."""

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        super().__init__(_RealPath(app), **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] != "/metrics":  # BentoML's own check, on the real path
            router = scope.get("app")
            label = route_template(getattr(router, "routes", ()), scope) or UNMATCHED
            scope = {**scope, "path": label, _REAL_PATH: scope["path"]}
        await super().__call__(scope, receive, send)


def label_by_route() -> None:
    """Make the BentoML services of this process label HTTP metrics by route; call before a worker builds its app."""
    if instruments.RunnerTrafficMetricsMiddleware is not RouteLabelledMetrics:
        instruments.RunnerTrafficMetricsMiddleware = RouteLabelledMetrics  # type: ignore[misc, assignment]
        log.debug("BentoML HTTP metrics labelled by route template")
