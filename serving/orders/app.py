"""The order API alone: `uvicorn serving.orders.app:create_app --factory` (tests, or running it on its own).

`RETAIL_WORKSPACE` and `RETAIL_DATABASE_URL` choose the database, as for the rest of the service.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from serving.orders.api import router

log = logging.getLogger(__name__)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A bug answers a plain 500 with no stack trace; the trace goes to the log."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """JSON errors everywhere: `{"detail": ...}`, never a stack trace (for whichever app mounts the router)."""
    app.add_exception_handler(Exception, _unexpected)


def create_app() -> FastAPI:
    app = FastAPI(title="Retail order API", version="1", description="Orders, stock by store, returns, reports.")
    app.include_router(router)
    install_error_handlers(app)
    return app
