"""The order API alone: `uvicorn serving.commerce.app:create_app --factory` (tests, or running it on its own).

`RETAIL_WORKSPACE` and `RETAIL_DATABASE_URL` choose the database, as for the rest of the service.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException  # what FastAPI raises for an undecodable body
from starlette.routing import Match

from serving import faults, guard
from serving.commerce.api import router
from serving.commerce.cart_api import router as cart_router
from serving.commerce.catalog_api import router as catalog_router
from serving.commerce.checkout_api import router as checkout_router
from serving.commerce.feedback_api import router as feedback_router
from serving.commerce.order_list_api import router as order_list_router

log = logging.getLogger(__name__)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path, for a 405's `Allow` (Starlette's names only one route's)."""
    routes = request.app.router.routes
    served = [m for m in METHODS if any(r.matches({**request.scope, "method": m})[0] is Match.FULL for r in routes)]
    return ", ".join(served)


async def _body_not_json(request: Request, exc: Exception) -> Response:
    """FastAPI answers a body it cannot even decode with a bare 400; it is a 422 like every other bad body.

    A 405 lists in `Allow` every method of the path, not only those of the first route that matched it.
    """
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:
        problem = {"type": "json_invalid", "loc": ["body"], "msg": str(exc.detail), "input": None}
        return JSONResponse(status_code=422, content={"detail": [problem]})
    if exc.status_code == 405:
        return JSONResponse({"detail": exc.detail}, status_code=405, headers={"Allow": allowed_methods(request)})
    return await http_exception_handler(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A bug answers a plain 500 with no stack trace; the trace goes to the log."""
    if (outage := faults.answer(exc)) is not None:  # a backing service down outside a route (the guard's key look-up)
        return outage
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error; see the service log"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """JSON errors everywhere: `{"detail": ...}`, never a stack trace (the Bento's app has the same two)."""
    app.add_exception_handler(HTTPException, _body_not_json)
    app.add_exception_handler(Exception, _unexpected)
    faults.install(app)  # the database or online store down: 503 + Retry-After


def create_app() -> FastAPI:
    app = FastAPI(title="Retail order API", version="1", description="Orders, stock by store, returns, reports.")
    app.include_router(router)
    app.include_router(cart_router)
    app.include_router(feedback_router)
    app.include_router(catalog_router)
    app.include_router(checkout_router)
    app.include_router(order_list_router)
    install_error_handlers(app)
    guard.install(app)
    return app
