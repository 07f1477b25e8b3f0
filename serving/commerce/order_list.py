"""Orders for managers: one filtered, sorted page at a time, with an opaque keyset cursor to the next page.

A page is one indexed query: the filters go to `ix_orders_status_created` (status), `ix_orders_store_created`
(store) or the customer index, the sort is `created_at` or `total` with `order_id` as the tie-break, and the
cursor is the last row's (sort value, order_id), so a page reads only its own rows however deep it is and a
walk through the pages never repeats or skips an order, even while new orders arrive (they sort before the
cursor of a newest-first walk). "Paid between" is a correlated look-up of the order's `paid` event by
`order_id`; an order paid before `paid_to` was placed before it too, which bounds the scan.

Who sees what is the API's business (`order_list_api`): the function lists what its `Filters` say.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Engine, exists, select, tuple_
from sqlalchemy.orm import Session, selectinload

from retail import db
from serving.commerce import offer_redemption
from serving.commerce.errors import Invalid
from serving.commerce.orders import order_view
from serving.commerce.payloads import OrderOut, Status
from serving.commerce.tables import Order, OrderEvent

log = logging.getLogger(__name__)

Sort = Literal["-created_at", "created_at", "-total", "total"]
SORTS: tuple[str, ...] = get_args(Sort)
STATUSES: tuple[str, ...] = get_args(Status)
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
CURSOR_MAX = 400  # characters: a cursor this module wrote is far shorter


class OrderPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [], "next_cursor": "WyItY3JlYXRlZF9hdCIsIjIwMjYtMTItMDUiLCJPMSJd"}]}
    )

    items: list[OrderOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same filters and sort) for the next page; null on the last page."
    )


@dataclass(frozen=True)
class Filters:
    """What to list; None or empty: no condition. Times are naive UTC; `*_from` inclusive, `*_to` exclusive."""

    statuses: tuple[str, ...] = ()
    channel: str | None = None
    store_id: str | None = None
    customer_id: str | None = None
    placed_from: datetime | None = None
    placed_to: datetime | None = None
    paid_from: datetime | None = None
    paid_to: datetime | None = None


def statuses(values: list[str] | None) -> tuple[str, ...]:
    """`status=paid&status=picking` or `status=paid,picking`: known statuses only (`Invalid` naming the first other)."""
    wanted: list[str] = []
    for value in values or []:
        for name in (part.strip() for part in value.split(",")):
            if name not in STATUSES:
                raise Invalid(f"status: unknown status {name!r}; one of {', '.join(STATUSES)}", "status", name)
            if name not in wanted:
                wanted.append(name)
    return tuple(wanted)


def utc(moment: datetime | None) -> datetime | None:
    """Naive UTC, as the database keeps times: an offset is converted, a time without one is taken as UTC."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def check_range(start: datetime | None, end: datetime | None, name: str) -> None:
    if start is not None and end is not None and end < start:
        raise Invalid(
            f"{name}_to: {end.isoformat()} is before {name}_from {start.isoformat()}", f"{name}_to", end.isoformat()
        )


def encode_cursor(sort: str, value: datetime | int, order_id: str) -> str:
    """Opaque to clients: the sort it belongs to and the last row's (value, order_id), as base64url JSON."""
    shown = value.isoformat() if isinstance(value, datetime) else value
    raw = json.dumps([sort, shown, order_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[datetime | int, str]:
    """The (value, order_id) a cursor of this sort holds; `Invalid` naming `cursor` for anything else."""
    bad = Invalid(
        f"cursor: {cursor[:80]!r} is not a cursor of this listing with sort {sort!r}; use a `next_cursor` it "
        "answered, with the same sort",
        "cursor",
        cursor[:80],
    )
    if not 0 < len(cursor) <= CURSOR_MAX:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise bad from None
    if not (isinstance(data, list) and len(data) == 3 and data[0] == sort and isinstance(data[2], str)):
        raise bad
    _, value, order_id = data
    if sort.endswith("total"):
        if type(value) is not int:
            raise bad
        return value, order_id
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is not None:
        raise bad
    return moment, order_id


def _conditions(f: Filters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.statuses:
        where.append(Order.status.in_(f.statuses) if len(f.statuses) > 1 else Order.status == f.statuses[0])
    if f.channel is not None:
        where.append(Order.channel == f.channel)
    if f.store_id is not None:
        where.append(Order.store_id == f.store_id)
    if f.customer_id is not None:
        where.append(Order.customer_id == f.customer_id)
    if f.placed_from is not None:
        where.append(Order.created_at >= f.placed_from)
    if f.placed_to is not None:
        where.append(Order.created_at < f.placed_to)
    if f.paid_from is not None or f.paid_to is not None:
        paid = [OrderEvent.order_id == Order.order_id, OrderEvent.status == "paid"]
        if f.paid_from is not None:
            paid.append(OrderEvent.at >= f.paid_from)
        if f.paid_to is not None:
            paid.append(OrderEvent.at < f.paid_to)
            where.append(Order.created_at < f.paid_to)  # placed no later than paid: bounds the scan
        where.append(exists().where(*paid))
    return where


def list_orders(
    engine: Engine, filters: Filters, sort: str = "-created_at", limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> OrderPage:
    """One page of the orders `filters` select, in `sort` order (`-` first: descending), after `cursor`."""
    if sort not in SORTS:
        raise Invalid(f"sort: {sort!r} is not one of {', '.join(SORTS)}", "sort", sort)
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit: between 1 and {MAX_LIMIT}, not {limit}", "limit", limit)
    check_range(filters.placed_from, filters.placed_to, "placed")
    check_range(filters.paid_from, filters.paid_to, "paid")
    descending = sort.startswith("-")
    column: Any = Order.total_cents if sort.endswith("total") else Order.created_at
    where = _conditions(filters)
    if cursor is not None:
        value, after = decode_cursor(cursor, sort)
        key = tuple_(column, Order.order_id)
        where.append(key < tuple_(value, after) if descending else key > tuple_(value, after))
    order_by = (column.desc(), Order.order_id.desc()) if descending else (column.asc(), Order.order_id.asc())
    query = (
        select(Order)
        .where(*where)
        .order_by(*order_by)
        .limit(limit + 1)
        .options(selectinload(Order.lines), selectinload(Order.history))
    )
    with Session(db.reader(engine)) as s:
        rows = list(s.scalars(query))
        codes = offer_redemption.codes_for(s, [o.order_id for o in rows[:limit]])  # one query for the page
        items = [order_view(o, codes.get(o.order_id)) for o in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        next_cursor = None
        if last is not None:
            next_cursor = encode_cursor(
                sort, last.total_cents if sort.endswith("total") else last.created_at, last.order_id
            )
    return OrderPage(items=items, next_cursor=next_cursor)
