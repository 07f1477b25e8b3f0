"""A customer's record and order history at a glance: the commerce queries the customer profile is built from.

Each is a handful of indexed queries on one customer's rows, in a read transaction.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, func, or_, select
from sqlalchemy.orm import Session, selectinload

from retail import db
from serving.commerce import feedback
from serving.commerce.errors import Invalid, NotFound
from serving.commerce.orders import order_view
from serving.commerce.payloads import OrderOut, UtcDateTime
from serving.commerce.tables import Customer, Order, Return, Store

NOT_FINAL = ("placed", "paid", "picking", "shipped", "ready_for_pickup")
SEARCH_LIMIT = 500
QUERY_MAX = 64


class CustomerOut(BaseModel):
    customer_id: str
    region: str | None
    created_at: UtcDateTime
    name: str | None = Field(default=None, description="As the raw customers table gives it; None when it has none.")
    email: str | None = Field(default=None, description="Lower case; None when the raw customers table has none.")


class OrderSummary(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "orders": 12,
                    "spend": 431.5,
                    "last_order_at": "2026-06-28T14:03:00Z",
                    "channels": {"web": 9, "store": 3},
                    "usual_store_id": "S01",
                }
            ]
        }
    )

    orders: int = Field(description="Every order, cancelled ones included.")
    spend: float = Field(description="Totals of the orders paid for (paid or later, not cancelled), less refunds.")
    last_order_at: UtcDateTime | None
    channels: dict[str, int] = Field(description="Orders per channel (web, mobile, store, sales_rep).")
    usual_store_id: str | None = Field(description="The store most of their orders were placed at; None: no orders.")


NO_ORDERS = OrderSummary(orders=0, spend=0.0, last_order_at=None, channels={}, usual_store_id=None)


def customer(engine: Engine, customer_id: str) -> CustomerOut:
    """The customer's record; `NotFound` for an unknown customer."""
    with Session(db.reader(engine)) as s:
        row = s.get(Customer, customer_id)
        if row is None:
            raise NotFound(f"customer_id: unknown customer {customer_id!r}", "customer_id", customer_id)
        return _view(row)


def order_summary(engine: Engine, customer_id: str) -> tuple[OrderSummary, str | None]:
    """The summary and the kind (online | store) of the usual store: two grouped queries on indexed columns."""
    with Session(db.reader(engine)) as s:
        rows = s.execute(
            select(
                Order.channel,
                Order.store_id,
                Store.kind,
                Order.status,
                func.count(),
                func.sum(Order.total_cents),
                func.max(Order.created_at),
            )
            .join(Store, Store.store_id == Order.store_id)
            .where(Order.customer_id == customer_id)
            .group_by(Order.channel, Order.store_id, Store.kind, Order.status)
        ).all()
        refunds = s.scalar(
            select(func.coalesce(func.sum(Return.refund_cents), 0))
            .join(Order, Order.order_id == Return.order_id)
            .where(Order.customer_id == customer_id)
        )
    channels: dict[str, int] = {}
    stores: dict[tuple[str, str], int] = {}
    spent = 0
    for channel, store_id, kind, status, n, cents, _ in rows:
        channels[channel] = channels.get(channel, 0) + n
        stores[(store_id, kind)] = stores.get((store_id, kind), 0) + n
        spent += int(cents or 0) if status in feedback.SPENT else 0
    usual = min(stores, key=lambda key: (-stores[key], key[0])) if stores else None
    summary = OrderSummary(
        orders=sum(channels.values()),
        spend=round((spent - int(refunds or 0)) / 100, 2),
        last_order_at=max((r[6] for r in rows), default=None),
        channels=channels,
        usual_store_id=usual[0] if usual else None,
    )
    return summary, usual[1] if usual else None


def open_orders(engine: Engine, customer_id: str, limit: int) -> list[OrderOut]:
    """The customer's orders not yet delivered, picked up or cancelled, newest first (at most `limit`)."""
    with Session(db.reader(engine)) as s:
        query = (
            select(Order)
            .where(Order.customer_id == customer_id, Order.status.in_(NOT_FINAL))
            .order_by(Order.created_at.desc(), Order.order_id)
            .limit(limit)
            .options(selectinload(Order.lines), selectinload(Order.history))
        )
        return [order_view(o) for o in s.scalars(query)]


def recent_feedback(engine: Engine, customer_id: str, limit: int) -> list[feedback.FeedbackOut]:
    """The customer's newest feedback with its sentiment (at most `limit`)."""
    with Session(db.reader(engine)) as s:
        return feedback.recent(s, customer_id, limit)


def _prefix(column: Any, prefix: str) -> Any:
    """`column` starts with `prefix`, as a range on the column so its index answers it (`LIKE` would scan)."""
    return (column >= prefix) & (column < prefix + "\U0010ffff")


def _view(row: Any) -> CustomerOut:
    return CustomerOut(
        customer_id=row.customer_id, region=row.region, created_at=row.created_at, name=row.name, email=row.email
    )


def search(engine: Engine, q: str, limit: int = SEARCH_LIMIT) -> tuple[list[CustomerOut], bool]:
    """Customers whose id or email starts with `q`, or one of whose names does (any case); ids first; at most `limit`.

    Returns the customers and whether more matched than `limit`. Ids: a range on the primary key per spelling (as
    typed, upper, lower); emails: a range on their index (kept in lower case); so both read only the rows they
    return. Names: a word of the name starting with `q`, which reads every named customer (a few milliseconds for
    10,000). Imported data without names or emails (Online Retail) is searched by id alone.
    """
    q = q.strip()
    if not 0 < len(q) <= QUERY_MAX:
        raise Invalid(f"q: give 1 to {QUERY_MAX} characters of a customer id, name or email, not {q!r}", "q", q)
    if not 1 <= limit <= SEARCH_LIMIT:
        raise Invalid(f"limit: between 1 and {SEARCH_LIMIT}, not {limit}", "limit", limit)
    spellings = sorted({q, q.upper(), q.lower()})
    word = _escaped(q.lower())
    found: dict[str, CustomerOut] = {}
    with Session(db.reader(engine)) as s:
        queries = (
            select(Customer).where(or_(*(_prefix(Customer.customer_id, p) for p in spellings))),
            select(Customer).where(_prefix(Customer.email, q.lower())),
            select(Customer).where(
                or_(
                    func.lower(Customer.name).like(f"{word}%", escape="\\"),
                    func.lower(Customer.name).like(f"% {word}%", escape="\\"),
                )
            ),
        )
        for query in queries:
            if len(found) > limit:
                break
            for row in s.scalars(query.order_by(Customer.customer_id).limit(limit + 1 - len(found))):
                found.setdefault(row.customer_id, _view(row))
    rows = list(found.values())
    return rows[:limit], len(rows) > limit


def named(engine: Engine) -> bool:
    """Whether any customer has a name or email (imported data may have neither: then search is by id)."""
    with Session(db.reader(engine)) as s:
        held = or_(Customer.name.is_not(None), Customer.email.is_not(None))
        return s.scalar(select(Customer.customer_id).where(held).limit(1)) is not None


def _escaped(text: str) -> str:
    """`text` for a LIKE pattern: its own % and _ match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def exact_id(engine: Engine, q: str) -> str | None:
    """The id of the customer whose id is `q` (as typed, upper or lower case), or None."""
    q = q.strip()
    if not 0 < len(q) <= QUERY_MAX:
        return None
    with Session(db.reader(engine)) as s:
        spellings = Customer.customer_id.in_({q, q.upper(), q.lower()})
        return s.scalar(select(Customer.customer_id).where(spellings).order_by((Customer.customer_id == q).desc()))
