"""Request and response models of the order API (pydantic, with examples for the OpenAPI page).

Money is held in integer cents in the database and shown here in currency units (a float with two decimals).
Ids are 1-64 printable characters: a control character (or NUL, which PostgreSQL refuses) is a 422, not a 500.
Quantities and points are JSON integers (`Count`): `true`, `"2"` or `2.5` is a 422, never read as a number.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

Channel = Literal["web", "mobile", "store", "sales_rep"]
Fulfilment = Literal["ship", "pickup", "in_store"]
Status = Literal["placed", "paid", "picking", "shipped", "delivered", "ready_for_pickup", "picked_up", "cancelled"]
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ID_PATTERN)]
OrderId = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=ID_PATTERN)]
MAX_LINE_QUANTITY = 10_000
MAX_REDEEM_POINTS = 1_000_000_000  # the balance is a 32-bit integer on PostgreSQL
MAX_OFFERS_PER_ORDER = 2  # personal offer codes one order may redeem (`offers` re-exports it)
OfferCode = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=ID_PATTERN)]


def money(cents: int) -> float:
    return round(cents / 100, 2)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _not_a_number(value: Any) -> Any:
    """A time is written as ISO 8601; pydantic would also read a bare number as Unix seconds, which no caller means."""
    text = str(value).strip()
    if isinstance(value, int | float) or text.lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError(f"expected an ISO 8601 date-time such as 2026-06-01T00:00:00, got {value!r}")
    return value


# a date-time in a request: ISO 8601 only
DateTimeIn = Annotated[datetime, BeforeValidator(_not_a_number)]


def _json_integer(value: Any) -> Any:
    """2.0 is the integer 2, as JSON Schema counts integers; anything else goes to the strict check unchanged."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# money, points and quantities in a request: a JSON integer, strictly (`false`, `"2"` or 2.5 is a 422, not 0 or 2)
Count = Annotated[int, BeforeValidator(_json_integer), Field(strict=True)]


# the database keeps naive UTC; answers say so (RFC 3339 with an offset, as OpenAPI's date-time requires)
UtcDateTime = Annotated[datetime, AfterValidator(_utc)]


class Body(BaseModel):
    """Request bodies refuse unknown fields, so a misspelt one is a 422 rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")


class LineIn(Body):
    product_id: Id
    quantity: Count = Field(gt=0, le=MAX_LINE_QUANTITY, description="Units, at least 1.")


class OrderIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "C00001",
                    "channel": "web",
                    "fulfilment": "pickup",
                    "store_id": "S01",
                    "lines": [{"product_id": "P0001", "quantity": 2}],
                }
            ]
        },
    )

    customer_id: Id | None = Field(default=None, description="Omit for a guest order.")
    channel: Channel
    fulfilment: Fulfilment
    store_id: Id = Field(description="The store whose stock is reserved (the online shop's for web orders).")
    lines: list[LineIn] = Field(min_length=1, max_length=100)
    redeem_points: Count = Field(
        default=0,
        ge=0,
        le=MAX_REDEEM_POINTS,
        description="Loyalty points to redeem as a discount (a customer's order only); at most the order's value "
        "is taken, and more than the balance is a 409.",
    )
    offer_codes: list[OfferCode] = Field(
        default_factory=list,
        max_length=MAX_OFFERS_PER_ORDER,
        description=f"Personal offer codes to redeem (a customer's order only; at most {MAX_OFFERS_PER_ORDER}, one "
        "per product). Each takes its percentage off its product's line, at most its cap, before points are "
        "redeemed on what remains. An expired, used or unknown code, another customer's, or one whose product is "
        "not in the order is a 409 naming it.",
    )


class StatusIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"status": "paid"},
                {
                    "status": "shipped",
                    "carrier": "DHL",
                    "tracking_number": "JD014600003828",
                    "estimated_delivery": "2026-12-10",
                },
            ]
        },
    )

    status: Status
    carrier: Id | None = Field(default=None, description="With `shipped` only: who delivers it.")
    tracking_number: Id | None = Field(default=None, description="With `shipped` only: the carrier's number.")
    estimated_delivery: DateTimeIn | None = Field(
        default=None,
        description="With `shipped` only: a date (or date-time, UTC) not before the day the order was placed.",
    )

    @field_validator("carrier", "tracking_number", "estimated_delivery")
    @classmethod
    def _only_when_shipped(cls, value: Any, info: ValidationInfo) -> Any:
        """Delivery details go with the move to `shipped` (a 422 naming the field otherwise)."""
        status = info.data.get("status")
        if value is not None and status is not None and status != "shipped":
            raise ValueError(f"{info.field_name} is given only with status 'shipped', not {status!r}")
        return value


class ReturnIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"store_id": "S02", "lines": [{"product_id": "P0001", "quantity": 1}]}]},
    )

    store_id: Id = Field(description="The store taking the goods back (restocked there); any store, online too.")
    lines: list[LineIn] = Field(min_length=1, max_length=100)


class LineOut(BaseModel):
    line_no: int
    product_id: str
    quantity: int
    unit_price: float
    line_total: float
    returned_quantity: int


class StatusEvent(BaseModel):
    status: str
    at: UtcDateTime


class Delivery(BaseModel):
    carrier: str | None
    tracking_number: str | None
    estimated_delivery: UtcDateTime | None


class OrderOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "O3F2A9C1D7E4B5A60",
                    "customer_id": "C00001",
                    "channel": "web",
                    "fulfilment": "pickup",
                    "store_id": "S01",
                    "status": "placed",
                    "total": 39.98,
                    "discount": 0.0,
                    "points_redeemed": 0,
                    "lines": [
                        {
                            "line_no": 1,
                            "product_id": "P0001",
                            "quantity": 2,
                            "unit_price": 19.99,
                            "line_total": 39.98,
                            "returned_quantity": 0,
                        }
                    ],
                    "history": [{"status": "placed", "at": "2026-07-01T10:00:00"}],
                    "created_at": "2026-07-01T10:00:00",
                    "updated_at": "2026-07-01T10:00:00",
                }
            ]
        }
    )

    order_id: str
    customer_id: str | None
    channel: str
    fulfilment: str
    store_id: str
    status: str
    total: float = Field(
        description="What the customer pays: the sum of the lines less `offer_discount`, then less `discount`."
    )
    discount: float = Field(default=0.0, description="Loyalty points redeemed at checkout, in currency units.")
    points_redeemed: int = 0
    offer_discount: float = Field(default=0.0, description="Personal offers redeemed, in currency units.")
    offer_codes: list[str] = Field(default_factory=list, description="The offer codes this order redeemed.")
    cart_id: str | None = Field(default=None, description="The cart it was checked out from, if any.")
    delivery: Delivery | None = Field(default=None, description="Carrier and tracking, once a shipping order ships.")
    lines: list[LineOut]
    history: list[StatusEvent]
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ReturnLineOut(BaseModel):
    product_id: str
    quantity: int
    refund: float


class ReturnOut(BaseModel):
    return_id: str
    order_id: str
    store_id: str
    refund: float
    lines: list[ReturnLineOut]
    created_at: UtcDateTime


class StockOut(BaseModel):
    on_hand: int
    reserved: int
    available: int


class StoreStockOut(StockOut):
    store_id: str
    kind: str


class AvailabilityOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "product_id": "P0001",
                    "stores": [
                        {"store_id": "S00", "kind": "online", "on_hand": 40, "reserved": 3, "available": 37},
                        {"store_id": "S01", "kind": "store", "on_hand": 5, "reserved": 0, "available": 5},
                    ],
                    "online": {"on_hand": 40, "reserved": 3, "available": 37},
                }
            ]
        }
    )

    product_id: str
    stores: list[StoreStockOut]
    online: StockOut = Field(description="The sum over stores of kind `online`.")


class NotificationOut(BaseModel):
    id: int
    order_id: str
    kind: str
    payload: dict[str, Any]
    created_at: UtcDateTime


class SalesRow(BaseModel):
    key: str = Field(
        description="The day (YYYY-MM-DD), week (its Monday, YYYY-MM-DD), store id or channel of this row; `unknown` "
        "for history without a store or channel; `total` for the total."
    )
    revenue: float = Field(description="Counted orders' value (API: after loyalty discounts); returns not subtracted.")
    orders: int = Field(description="Counted orders: history orders plus API orders paid or later and not cancelled.")
    units: int
    average_order_value: float = Field(description="revenue / orders (0 without orders).")
    history_orders: int = Field(default=0, description="Orders of the imported history among `orders`.")
    api_orders: int = Field(default=0, description="Orders of the order API among `orders`.")
    customers: int = Field(default=0, description="Known customers with a counted order (guests left out).")
    returns: float = Field(default=0.0, description="Value returned in these days (API: refunds), by return day.")
    return_rate: float | None = Field(default=None, description="returns / revenue; null without revenue.")
    cancellation_rate: float | None = Field(
        default=None,
        description="Cancelled / placed, over API orders placed in these days; null when none was placed (imported "
        "history has no statuses).",
    )
    fulfilment_hours: float | None = Field(
        default=None,
        description="Mean hours from placing to shipping or pick-up, over counted API orders that got there; null "
        "when none did (imported history has no shipping times).",
    )
    repeat_purchase_rate: float | None = Field(
        default=None,
        description="Share of `customers` with two or more counted orders in these days; null without customers.",
    )


class SalesReport(BaseModel):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    by: Literal["day", "week", "store", "channel"]
    store_id: str | None = Field(default=None, description="The store filter, if any.")
    channel: str | None = Field(default=None, description="The channel filter, if any.")
    rows: list[SalesRow]
    total: SalesRow
    notes: dict[str, str] = Field(
        default_factory=dict,
        description="Why a figure of the total is null or covers one source only, by field name (and `store_id` "
        "or `channel` where the history records none).",
    )


class LoyaltyEntryOut(BaseModel):
    id: int
    kind: str = Field(
        description="earn, redeem, reverse_earn (cancel or return), reverse_redeem (cancel), settle (points owed "
        "paid back from points that arrived), expire."
    )
    points: int = Field(description="Signed: what the movement did to the balance.")
    order_id: str | None
    created_at: UtcDateTime
    expires_at: UtcDateTime | None = Field(
        description="When these points lapse (earned points and their reversals); points given back by a "
        "cancellation lapse with the points they were spent from."
    )


class LoyaltyOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "C00001",
                    "balance": 820,
                    "balance_value": 8.2,
                    "tier": "silver",
                    "multiplier": 1.25,
                    "spend_12m": 640.5,
                    "next_tier": "gold",
                    "spend_to_next_tier": 859.5,
                    "entries": [
                        {
                            "id": 17,
                            "kind": "earn",
                            "points": 50,
                            "order_id": "O3F2A9C1D7E4B5A60",
                            "created_at": "2026-07-01T10:00:00Z",
                            "expires_at": "2027-07-01T10:00:00Z",
                        }
                    ],
                }
            ]
        }
    )

    customer_id: str
    balance: int = Field(description="Points: always the sum of the customer's ledger entries, never negative.")
    balance_value: float = Field(description="What the balance is worth at checkout, in currency units.")
    tier: str
    multiplier: float = Field(description="Points earned per currency unit are multiplied by this.")
    owed: int = Field(
        default=0,
        description="Points a cancelled or returned order earned that were already spent; the next points that "
        "arrive pay them back first (the balance stays 0 while any are owed).",
    )
    spend_12m: float = Field(description="Paid spend (less refunds) in the tier window: what sets the tier.")
    next_tier: str | None = Field(description="None at the top tier.")
    spend_to_next_tier: float | None = Field(description="More spend in the window that reaches the next tier.")
    entries: list[LoyaltyEntryOut] = Field(description="The customer's ledger legs, newest first.")
