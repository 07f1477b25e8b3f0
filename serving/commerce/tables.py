"""The commerce domain's tables: catalogue, stock, orders, returns, notifications, loyalty and feedback.

Money is held in integer cents so totals add up exactly on every database. Changing a table means adding an
Alembic revision under `serving/commerce/migrations` (see `retail.db`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retail.db import Base


class Customer(Base):
    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    name: Mapped[str | None] = mapped_column(String(128), nullable=True)  # for staff to find them (raw `name`)
    email: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)  # lower case


class Product(Base):
    __tablename__ = "products"

    product_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    category: Mapped[str | None] = mapped_column(String(128), nullable=True)
    price_cents: Mapped[int] = mapped_column(Integer)
    brand: Mapped[str | None] = mapped_column(String(128), nullable=True)
    tier: Mapped[str | None] = mapped_column(String(16), nullable=True)  # good | better | best
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # kept up to date for sorting and showing: raw reviews at `db init`, then every rated feedback; units sold
    # in the raw transactions, then every paid order line (less cancellations)
    rating_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rating_sum: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sold_units: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="ck_products_price"),
        Index("ix_products_category_tier_price", "category", "tier", "price_cents"),  # upgrades: a tier's cheapest
    )


class ProductAttribute(Base):
    """One specification of a product (raw table `product_attributes`): name and value, shown in `position` order."""

    __tablename__ = "product_attributes"

    product_id: Mapped[str] = mapped_column(ForeignKey("products.product_id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Store(Base):
    __tablename__ = "stores"

    store_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16))  # online | store
    region: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Inventory(Base):
    """Stock of one product at one store: `available = on_hand - reserved`, never negative (checked by the DB)."""

    __tablename__ = "inventory"

    store_id: Mapped[str] = mapped_column(ForeignKey("stores.store_id"), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.product_id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (
        CheckConstraint("reserved >= 0", name="ck_inventory_reserved"),
        CheckConstraint("on_hand >= reserved", name="ck_inventory_available"),
        Index("ix_inventory_product", "product_id"),
    )


class Order(Base):
    __tablename__ = "orders"

    order_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.customer_id"), nullable=True, index=True)
    channel: Mapped[str] = mapped_column(String(16))
    fulfilment: Mapped[str] = mapped_column(String(16))
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.store_id"))
    status: Mapped[str] = mapped_column(String(24))
    total_cents: Mapped[int] = mapped_column(Integer)  # sum of the lines less `discount_cents`
    discount_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # loyalty points redeemed
    points_redeemed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    offer_discount_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # personal offers
    cart_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)  # checked out from
    # delivery details, set when a shipping order ships
    carrier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tracking_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    estimated_delivery: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # `Idempotency-Key`, unique per caller (`key:<api key id>` or `customer:<id>`); cleared when reused after
    # the retention (RETAIL_IDEMPOTENCY_HOURS)
    idempotency_scope: Mapped[str] = mapped_column(String(80), default="", server_default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by: Mapped[int | None] = mapped_column(Integer, nullable=True)  # api_keys.id
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.line_no"
    )
    history: Mapped[list[OrderEvent]] = relationship(cascade="all, delete-orphan", order_by="OrderEvent.id")

    __table_args__ = (
        CheckConstraint("total_cents >= 0", name="ck_orders_total"),
        CheckConstraint("offer_discount_cents >= 0", name="ck_orders_offer_discount"),
        UniqueConstraint("idempotency_scope", "idempotency_key", name="uq_orders_idempotency"),
        Index("ix_orders_status_created", "status", "created_at"),
        Index("ix_orders_store_created", "store_id", "created_at"),
    )


class OrderLine(Base):
    __tablename__ = "order_lines"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id", ondelete="CASCADE"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.product_id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    returned_quantity: Mapped[int] = mapped_column(Integer, default=0)
    order: Mapped[Order] = relationship(back_populates="lines")

    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_order_lines_quantity"),
        CheckConstraint("returned_quantity >= 0 AND returned_quantity <= quantity", name="ck_order_lines_returned"),
    )


class OrderEvent(Base):
    """One status an order entered, and when: the order's history."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(DateTime)


class Return(Base):
    __tablename__ = "returns"

    return_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.store_id"))
    refund_cents: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    idempotency_scope: Mapped[str] = mapped_column(String(80), default="", server_default="")  # as on orders
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by: Mapped[int | None] = mapped_column(Integer, nullable=True)  # api_keys.id
    lines: Mapped[list[ReturnLine]] = relationship(cascade="all, delete-orphan", order_by="ReturnLine.line_no")

    __table_args__ = (UniqueConstraint("idempotency_scope", "idempotency_key", name="uq_returns_idempotency"),)


class ReturnLine(Base):
    __tablename__ = "return_lines"

    return_id: Mapped[str] = mapped_column(ForeignKey("returns.return_id", ondelete="CASCADE"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)  # the order line returned
    product_id: Mapped[str] = mapped_column(ForeignKey("products.product_id"))
    quantity: Mapped[int] = mapped_column(Integer)
    refund_cents: Mapped[int] = mapped_column(Integer)

    __table_args__ = (CheckConstraint("quantity > 0", name="ck_return_lines_quantity"),)


class SaleLine(Base):
    """A paid, shipped, picked-up or returned line, waiting to be appended to the raw transactions table."""

    __tablename__ = "sale_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    product_id: Mapped[str] = mapped_column(String(64))
    store_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(16))  # paid | shipped | picked_up | returned
    ts: Mapped[datetime] = mapped_column(DateTime)
    quantity: Mapped[int] = mapped_column(Integer)  # negative for a return
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    exported_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)


class PendingPush(Base):
    """A customer whose online features must be pushed again (serving.commerce.push): kept until a push succeeds."""

    __tablename__ = "push_queue"

    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # sales | feedback
    version: Mapped[int] = mapped_column(Integer)  # +1 per change: a push only clears the version it read
    queued_at: Mapped[datetime] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer)  # failed pushes so far
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)


class Outbox(Base):
    """A notification written in the same transaction as the change it announces; webhooks deliver it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(32))  # order.status_changed, order.returned, ...
    payload: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)  # pruned by age (serving.commerce.webhooks)


class Webhook(Base):
    """A receiver of outbox entries: those after `starts_after_id`, signed with `secret` (HMAC-SHA256)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    secret: Mapped[str] = mapped_column(String(64))  # kept in clear: it signs every delivery
    starts_after_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # newest outbox id when added


class WebhookDelivery(Base):
    """How far one webhook has got through the outbox: one row per (webhook, outbox entry) once attempted."""

    __tablename__ = "webhook_deliveries"

    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    dead_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # dead-lettered: no more tries


# --- loyalty and feedback ----------------------------------------------------------------------------------------


class LoyaltyAccount(Base):
    """A customer's points balance: always the sum of their ledger entries, never negative (checked by the DB).

    Kept beside the ledger so a redemption is one conditional UPDATE (as stock reservations are), which keeps the
    balance from going negative under concurrent redemptions on SQLite and PostgreSQL alike.
    """

    __tablename__ = "loyalty_accounts"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), primary_key=True)
    balance: Mapped[int] = mapped_column(Integer, default=0)
    # points a reversed order earned that were already spent: settled from the next points that arrive
    owed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (
        CheckConstraint("balance >= 0", name="ck_loyalty_balance"),
        CheckConstraint("owed >= 0", name="ck_loyalty_owed"),
    )


class LoyaltyEntry(Base):
    """One leg of a double entry: every movement of points writes legs (two, or three) whose points sum to zero.

    Accounts are `customer` (the customer's points, `customer_id` set), `owed` (the customer's debt: a
    reversal of points already spent books them here, negative, and a `settle` movement pays it back; its
    sum is minus `LoyaltyAccount.owed`) and the programme's own `issued`, `redeemed` and `expired` accounts.
    `entry_group` names the movement: for an order's movements it is made
    from the order (`earn:O...`, `redeem:O...`, `cancel_earn:O...`, `cancel_redeem:O...`) or the return
    (`return:R...`), and `(entry_group, account)` is unique, so earning, redeeming or reversing for an order
    twice is refused by the database: each is idempotent per order (a return reverses its share once).
    `expires_at` is the expiry of the lot of earned points a leg belongs to (earn legs and their reversals);
    spending legs have none, nor do points given back by a cancellation (they undo a spending leg).
    """

    __tablename__ = "loyalty_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_group: Mapped[str] = mapped_column(String(40), index=True)  # the two legs of one movement
    account: Mapped[str] = mapped_column(String(16))  # customer | owed | issued | redeemed | expired
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    order_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(24))  # earn | redeem | reverse_earn | reverse_redeem | settle | expire
    points: Mapped[int] = mapped_column(Integer)  # signed
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # earn legs: when they lapse

    __table_args__ = (UniqueConstraint("entry_group", "account", name="uq_loyalty_group_account"),)


class Feedback(Base):
    """Customer feedback, scored by the sentiment champion when one is registered (else later, in batch)."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    order_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    product_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    label: Mapped[str | None] = mapped_column(String(16), nullable=True)  # positive | negative; None: unscored
    score: Mapped[float | None] = mapped_column(Float, nullable=True)  # P(positive)
    model_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # resolved by customer service: when, by which API key (its id, and name as it was), and how
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    resolved_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="ck_feedback_rating"),)


# --- carts and offers ---------------------------------------------------------------------------------------------


class Cart(Base):
    """A server-side cart: a customer's one cart for every channel, or a guest's, found by its unguessable id.

    `version` rises by one with every change; a write naming an older version is refused (optimistic locking).
    A guest cart merged into a customer's cart is kept with `merged_into` set and no lines.
    """

    __tablename__ = "carts"

    cart_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("customers.customer_id"), nullable=True, unique=True
    )  # None: a guest cart
    store_id: Mapped[str | None] = mapped_column(ForeignKey("stores.store_id"), nullable=True)  # where it is served
    channel: Mapped[str | None] = mapped_column(String(16), nullable=True)  # where it was last changed
    version: Mapped[int] = mapped_column(Integer, default=1)
    merged_into: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    lines: Mapped[list[CartLine]] = relationship(
        back_populates="cart", cascade="all, delete-orphan", order_by="CartLine.added_at"
    )


class CartLine(Base):
    """A product in a cart, with the price the customer saw when it was added (checked again at checkout)."""

    __tablename__ = "cart_lines"

    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.cart_id", ondelete="CASCADE"), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.product_id"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)  # the price seen when added
    added_at: Mapped[datetime] = mapped_column(DateTime)
    cart: Mapped[Cart] = relationship(back_populates="lines")

    __table_args__ = (CheckConstraint("quantity > 0", name="ck_cart_lines_quantity"),)


class PersonalOffer(Base):
    """A priced offer made to one customer: `discount_pct` off one product, at most `cap_cents`, until `expires_at`.

    Its `code` is single-use and bound to the customer; redeeming it records the order and the discount given.
    """

    __tablename__ = "offers"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.product_id"))
    kind: Mapped[str] = mapped_column(String(16))  # cross_sell | up_sell
    discount_pct: Mapped[float] = mapped_column(Float)
    cap_cents: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(256))  # the policy rule that set the discount
    model_version: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the recommender's
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    redeemed_order_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    redeemed_cents: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        CheckConstraint("discount_pct > 0 AND discount_pct <= 90", name="ck_offers_pct"),
        CheckConstraint("cap_cents >= 0", name="ck_offers_cap"),
    )
