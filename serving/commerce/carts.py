"""Server-side carts: one per customer across every channel, guest carts by an unguessable id, merged on sign-in.

Typed functions on an Engine, each one transaction, independent of HTTP. Every change raises the cart's `version`
with one conditional statement (`UPDATE carts SET version = version + 1 WHERE cart_id = :id AND version =
:expected`) before it touches the lines, in the same transaction. On PostgreSQL a concurrent writer at the same
version waits on that row, then finds the version moved and updates nothing; on SQLite writers queue on BEGIN
IMMEDIATE and the second sees the first's version. Either way exactly one of two writers at one version wins, the
other gets `Stale` with the cart as it is now, so no line is lost.

Lines keep the price seen when first added (`unit_price_cents`); setting a quantity keeps it. Answers show the
price now and the stock at the cart's store beside it (`view`), and checkout checks both again. Merging a guest
cart into a customer's is `serving.commerce.cart_merge`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from retail import db
from serving.commerce import events
from serving.commerce.cart_payloads import (
    MAX_LINES,
    CartChange,
    CartIn,
    CartLineIn,
    CartLineOut,
    CartOut,
)
from serving.commerce.errors import Conflict, Invalid, NotFound, OrderError
from serving.commerce.payloads import money
from serving.commerce.tables import Cart, CartLine, Customer, Inventory, Product, Store

log = logging.getLogger(__name__)

Access = Callable[[Cart], None]  # raises when the caller may not use this cart (the API's role checks)
Change = Callable[[Session, Cart, datetime], None]


class Stale(Conflict):
    """The write named an older version than the cart's: `current` is the cart now (a 409 carrying it)."""

    def __init__(self, current: CartOut, expected: int) -> None:
        super().__init__(
            f"cart {current.cart_id!r} is at version {current.version}, not {expected}: "
            "show it and apply your change to it again",
            "If-Match",
            expected,
        )
        self.current = current


class Merged(OrderError):
    """A change to a guest cart that was merged into a customer's cart (a 410 naming that cart)."""

    def __init__(self, cart_id: str, merged_into: str) -> None:
        super().__init__(f"cart {cart_id!r} was merged into cart {merged_into!r}; use that cart", "cart_id", cart_id)
        self.merged_into = merged_into


class VersionRequired(OrderError):
    """A change sent without the version it was made from (If-Match): a 428."""

    def __init__(self) -> None:
        super().__init__("If-Match: send the cart's version (its ETag) to change it", "If-Match", None)


class Raced(Exception):
    """A conditional update found another writer's version: the transaction is given up (and read again, or
    retried, outside it)."""


def new_id() -> str:
    return secrets.token_urlsafe(18)  # 24 characters, 144 random bits: an id nobody can guess


# --- reading -----------------------------------------------------------------------------------------------------


def load(s: Session, cart_id: str) -> Cart:
    cart = s.get(Cart, cart_id)
    if cart is None:
        raise NotFound(f"cart_id: unknown cart {cart_id!r}", "cart_id", cart_id)
    return cart


def of_customer(s: Session, customer_id: str) -> Cart | None:
    return s.scalars(select(Cart).where(Cart.customer_id == customer_id)).first()


def available_at(s: Session, store_id: str | None, product_ids: Iterable[str]) -> dict[str, int]:
    """Units available per product at `store_id`, or summed over the online stores when None."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    free = func.sum(Inventory.on_hand - Inventory.reserved)
    query = select(Inventory.product_id, free).where(Inventory.product_id.in_(ids)).group_by(Inventory.product_id)
    if store_id is not None:
        query = query.where(Inventory.store_id == store_id)
    else:
        query = query.join(Store, Store.store_id == Inventory.store_id).where(Store.kind == "online")
    found = {product_id: max(int(units or 0), 0) for product_id, units in s.execute(query)}
    return {p: found.get(p, 0) for p in ids}


def _changes(line: CartLine, price: int, units: int, where: str) -> list[CartChange]:
    """What differs since the line was added: its price, or the stock at the cart's store."""
    found = []
    seen, now = money(line.unit_price_cents), money(price)
    if price != line.unit_price_cents:
        detail = f"price of {line.product_id!r} changed from {seen:.2f} to {now:.2f}"
        found.append(("price", detail))
    if units < line.quantity:
        found.append(("stock", f"{line.product_id!r}: {line.quantity} in the cart, {units} available {where}"))
    return [
        CartChange(
            product_id=line.product_id,
            kind=kind,  # type: ignore[arg-type]
            detail=detail,
            unit_price=seen,
            current_price=now,
            quantity=line.quantity,
            available=units,
        )
        for kind, detail in found
    ]


def view(cart: Cart, s: Session | None = None) -> CartOut:
    """The cart as the API answers it, with today's prices and the stock at its store; inside the cart's session."""
    s = s or object_session(cart)
    if s is None:
        raise ValueError("carts.view reads products and stock: call it inside the session that loaded the cart")
    ordered = sorted(cart.lines, key=lambda line: (line.added_at, line.product_id))
    ids = [line.product_id for line in ordered]
    query = select(Product.product_id, Product.name, Product.price_cents).where(Product.product_id.in_(ids))
    products = {row.product_id: (row.name, row.price_cents) for row in s.execute(query)}
    stock = available_at(s, cart.store_id, ids)
    where = f"at store {cart.store_id!r}" if cart.store_id else "online"
    lines, changes, current = [], [], 0
    for line in ordered:
        name, price = products.get(line.product_id, (line.product_id, line.unit_price_cents))
        units = stock.get(line.product_id, 0)
        current += line.quantity * price
        lines.append(
            CartLineOut(
                product_id=line.product_id,
                name=name,
                quantity=line.quantity,
                unit_price=money(line.unit_price_cents),
                line_total=money(line.quantity * line.unit_price_cents),
                current_price=money(price),
                available=units,
                added_at=line.added_at,
            )
        )
        changes += _changes(line, price, units, where)
    return CartOut(
        cart_id=cart.cart_id,
        customer_id=cart.customer_id,
        store_id=cart.store_id,
        channel=cart.channel,
        version=cart.version,
        merged_into=cart.merged_into,
        lines=lines,
        items=sum(line.quantity for line in ordered),
        subtotal=money(sum(line.quantity * line.unit_price_cents for line in ordered)),
        current_subtotal=money(current),
        changes=changes,
        created_at=cart.created_at,
        updated_at=cart.updated_at,
    )


def get_cart(engine: Engine, cart_id: str, access: Access | None = None) -> CartOut:
    """A cart by id (a merged guest cart too: empty, with `merged_into`)."""
    with Session(db.reader(engine)) as s:
        cart = load(s, cart_id)
        if access is not None:
            access(cart)
        return view(cart, s)


# --- creating ----------------------------------------------------------------------------------------------------


def _check_store(s: Session, store_id: str | None, field: str = "store_id") -> None:
    if store_id is not None and s.get(Store, store_id) is None:
        raise Invalid(f"{field}: unknown store {store_id!r}", field, store_id)


def new_cart(s: Session, customer_id: str | None, store_id: str | None, channel: str | None) -> Cart:
    _check_store(s, store_id)
    now = events.now()
    cart = Cart(
        cart_id=new_id(),
        customer_id=customer_id,
        store_id=store_id,
        channel=channel,
        version=1,
        created_at=now,
        updated_at=now,
    )
    s.add(cart)
    s.flush()  # a second cart for this customer fails here, on the unique customer_id
    return cart


def create_guest(engine: Engine, body: CartIn) -> CartOut:
    """A new guest cart (no customer): its id is the only way to it."""
    with Session(engine, expire_on_commit=False) as s, s.begin():
        cart = new_cart(s, None, body.store_id, body.channel)
        answer = view(cart, s)
    log.info("guest cart created (store %s, channel %s)", body.store_id, body.channel)
    return answer


def customer_cart(
    engine: Engine, customer_id: str, store_id: str | None = None, channel: str | None = None
) -> tuple[CartOut, bool]:
    """The customer's one cart, created on first use with `store_id` and `channel`; `(cart, created)`.

    Concurrent first calls make one cart: the unique `customer_id` refuses the second insert and the winner's
    cart is read back.
    """
    with Session(db.reader(engine)) as s:
        found = of_customer(s, customer_id)
        if found is not None:
            return view(found, s), False
    try:
        with Session(engine, expire_on_commit=False) as s, s.begin():
            if s.get(Customer, customer_id) is None:
                raise NotFound(f"customer_id: unknown customer {customer_id!r}", "customer_id", customer_id)
            found = of_customer(s, customer_id)
            if found is not None:
                return view(found, s), False
            return view(new_cart(s, customer_id, store_id, channel), s), True
    except IntegrityError:
        with Session(db.reader(engine)) as s:
            found = of_customer(s, customer_id)
            if found is None:
                raise
            log.info("customer %s: a concurrent request created the cart first", customer_id)
            return view(found, s), False


# --- changing ----------------------------------------------------------------------------------------------------


def bump_version(s: Session, cart_id: str, expected: int, now: datetime, **values: object) -> bool:
    """`version + 1` (and `values`) if the cart is still at `expected` and not merged; False when it is not."""
    result = s.execute(
        update(Cart)
        .where(Cart.cart_id == cart_id, Cart.version == expected, Cart.merged_into.is_(None))
        .values(version=Cart.version + 1, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def _current(engine: Engine, cart_id: str, expected: int) -> Stale:
    with Session(db.reader(engine)) as s:
        return Stale(view(load(s, cart_id), s), expected)


def _change(
    engine: Engine, cart_id: str, expected: int | None, access: Access | None, change: Change, channel: str | None
) -> CartOut:
    """Load, check the caller and the version, bump it, apply `change`; one transaction."""
    try:
        with Session(engine, expire_on_commit=False) as s, s.begin():
            cart = load(s, cart_id)
            if access is not None:
                access(cart)
            if cart.merged_into is not None:
                raise Merged(cart_id, cart.merged_into)
            if expected is None:
                raise VersionRequired()
            if cart.version != expected:
                raise Stale(view(cart, s), expected)
            now = events.now()
            if not bump_version(s, cart_id, expected, now, **({"channel": channel} if channel else {})):
                raise Raced()
            s.refresh(cart)
            change(s, cart, now)
            s.flush()
            answer = view(cart, s)
    except Raced:
        raise _current(engine, cart_id, expected) from None  # type: ignore[arg-type]
    log.info("cart %s: version %d", cart_id, answer.version)
    return answer


def _product(s: Session, product_id: str) -> Product:
    product = s.get(Product, product_id)
    if product is None:
        raise Invalid(f"product_id: unknown product {product_id!r}", "product_id", product_id)
    return product


def set_line(
    engine: Engine, cart_id: str, expected: int | None, body: CartLineIn, access: Access | None = None
) -> CartOut:
    """Set a product's quantity; a new line keeps the product's price now as the price seen."""

    def change(s: Session, cart: Cart, now: datetime) -> None:
        product = _product(s, body.product_id)
        line = next((x for x in cart.lines if x.product_id == body.product_id), None)
        if line is not None:
            line.quantity = body.quantity
            return
        if len(cart.lines) >= MAX_LINES:
            raise Conflict(
                f"product_id: cart {cart.cart_id!r} already has {MAX_LINES} lines, the most a cart holds",
                "product_id",
                body.product_id,
            )
        cart.lines.append(
            CartLine(
                product_id=product.product_id,
                quantity=body.quantity,
                unit_price_cents=product.price_cents,
                added_at=now,
            )
        )

    return _change(engine, cart_id, expected, access, change, body.channel)


def remove_line(
    engine: Engine,
    cart_id: str,
    expected: int | None,
    product_id: str,
    access: Access | None = None,
    channel: str | None = None,
) -> CartOut:
    """Remove a product's line; a product not in the cart is `NotFound` (nothing changes)."""

    def change(s: Session, cart: Cart, now: datetime) -> None:
        line = next((x for x in cart.lines if x.product_id == product_id), None)
        if line is None:
            raise NotFound(f"product_id: {product_id!r} is not in cart {cart.cart_id!r}", "product_id", product_id)
        cart.lines.remove(line)

    return _change(engine, cart_id, expected, access, change, channel)


def set_place(
    engine: Engine, cart_id: str, expected: int | None, body: CartIn, access: Access | None = None
) -> CartOut:
    """Set the cart's store (null: online) and channel."""

    def change(s: Session, cart: Cart, now: datetime) -> None:
        _check_store(s, body.store_id)
        cart.store_id, cart.channel = body.store_id, body.channel

    return _change(engine, cart_id, expected, access, change, None)
