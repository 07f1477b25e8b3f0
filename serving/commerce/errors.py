"""What can go wrong with an order request, independent of HTTP: the API maps each kind to one status code.

Every error names the field and the value it is about, so a client can fix its request without guessing.
"""

from __future__ import annotations

from typing import Any


class OrderError(Exception):
    """Base: `field` (a JSON path such as `lines[1].product_id`) and `value` say what to fix."""

    def __init__(self, message: str, field: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.message, self.field, self.value = message, field, value


class Invalid(OrderError):
    """The request itself is wrong (unknown product, customer or store, too much to return): 422."""


class NotFound(OrderError):
    """The thing the path names does not exist: 404."""


class Conflict(OrderError):
    """The request is fine but the current state forbids it (illegal status move, reused key): 409."""


class OutOfStock(Conflict):
    """A line asks for more than the store has available; nothing was reserved."""

    def __init__(self, field: str, product_id: str, store_id: str, requested: int, available: int) -> None:
        super().__init__(
            f"{field}: product {product_id!r} has {available} available at store {store_id!r}, {requested} requested",
            field,
            product_id,
        )
        self.product_id, self.store_id, self.requested, self.available = product_id, store_id, requested, available
