"""The FastAPI dependency the service's endpoints, auth and the order API share: the application database.

Endpoints open and commit their own transaction before they answer (never in a yield dependency, whose exit
may run after the response is sent), so a 201 always means the order is committed.
"""

from __future__ import annotations

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
