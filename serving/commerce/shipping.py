"""Delivery details recorded when a shipping order ships: carrier, tracking number and estimated delivery.

They are given with the move to `shipped` (`POST /v1/orders/{id}/status`) and stored in the same transaction as
the move, its history entry and its notification, which carries them (`notice`). Asking for `shipped` again with
the same details (or none) changes nothing, so a retried request is harmless; other details on an order that
already shipped are a `Conflict` naming the field: they are recorded once, when the order ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from serving.commerce.errors import Conflict, Invalid
from serving.commerce.tables import Order

FIELDS = ("carrier", "tracking_number", "estimated_delivery")


@dataclass(frozen=True)
class Details:
    """What the shipper gave; None: not given."""

    carrier: str | None = None
    tracking_number: str | None = None
    estimated_delivery: datetime | None = None

    def given(self) -> dict[str, Any]:
        """The fields given, naive UTC for the time (as the database keeps it)."""
        values = {name: getattr(self, name) for name in FIELDS if getattr(self, name) is not None}
        if (moment := values.get("estimated_delivery")) is not None and moment.tzinfo is not None:
            values["estimated_delivery"] = moment.astimezone(UTC).replace(tzinfo=None)
        return values


def record(order: Order, details: Details | None) -> None:
    """Store the details on an order moving to `shipped`; an estimate before the day it was placed is `Invalid`."""
    values = (details or Details()).given()
    moment = values.get("estimated_delivery")
    if moment is not None and moment.date() < order.created_at.date():
        raise Invalid(
            f"estimated_delivery: {moment.date().isoformat()} is before the order was placed "
            f"({order.created_at.date().isoformat()})",
            "estimated_delivery",
            moment.isoformat(),
        )
    for name, value in values.items():
        setattr(order, name, value)


def check_repeat(order: Order, details: Details | None) -> None:
    """A repeated `shipped` may only repeat what was recorded (or give nothing); anything else is a `Conflict`."""
    for name, value in (details or Details()).given().items():
        held = getattr(order, name)
        if held != value:
            raise Conflict(
                f"{name}: order {order.order_id} already shipped with {name} {_shown(held)}, not {_shown(value)}; "
                "delivery details are recorded once, when the order ships",
                name,
                _shown(value),
            )


def notice(order: Order) -> dict[str, Any]:
    """The delivery details as the `order.status_changed` notification for `shipped` carries them (null if none)."""
    moment = order.estimated_delivery
    return {
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "estimated_delivery": moment.isoformat() if moment is not None else None,  # naive UTC, as the payload's `at`
    }


def _shown(value: Any) -> str:
    return repr(value.isoformat() if isinstance(value, datetime) else value)
