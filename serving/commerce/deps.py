"""The order API's own FastAPI dependency: telling the feature pusher that a customer's data changed.

The application database dependency is the service's (`serving.deps.database`), shared with auth and the
ML endpoints.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request


def features_changed(request: Request) -> Callable[..., None]:
    """`changed(customer_id, kind="sales"|"feedback")`: tells the app's feature pusher (if it runs one) that a
    customer's sales or feedback changed; a no-op otherwise."""
    pusher = getattr(request.app.state, "pusher", None)
    return pusher.notify if pusher is not None else _ignore


def _ignore(customer_id: str | None, kind: str = "sales") -> None:
    return None
