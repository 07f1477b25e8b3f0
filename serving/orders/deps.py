"""The FastAPI dependency the order API and auth share: the application database.

Endpoints open and commit their own transaction before they answer (never in a yield dependency, whose exit
may run after the response is sent), so a 201 always means the order is committed.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from sqlalchemy import Engine

from retail import db
from retail.settings import get_settings
from retail.workspace import Workspace


def database(request: Request) -> Engine:
    """The application database of the app's workspace (`RETAIL_WORKSPACE`, `RETAIL_DATABASE_URL`)."""
    engine = getattr(request.app.state, "db_engine", None)
    if engine is None:
        settings = get_settings()
        engine = db.engine(Workspace.at(settings.workspace), settings)
        request.app.state.db_engine = engine
    return engine


def features_changed(request: Request) -> Callable[..., None]:
    """`changed(customer_id, kind="sales"|"feedback")`: tells the app's feature pusher (if it runs one) that a
    customer's sales or feedback changed; a no-op otherwise."""
    pusher = getattr(request.app.state, "pusher", None)
    return pusher.notify if pusher is not None else _ignore


def _ignore(customer_id: str | None, kind: str = "sales") -> None:
    return None
