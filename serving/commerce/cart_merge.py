"""Merging a guest cart into the customer's cart when the guest signs in: one transaction, both versions raised.

Each cart's version rises with the conditional update `carts.bump_version`; if either moved since it was read (a
concurrent change), the transaction is given up and the merge starts again from what is there now.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving.commerce import carts, events
from serving.commerce.cart_payloads import MAX_LINES, MAX_QUANTITY, CartOut
from serving.commerce.errors import Conflict, Invalid
from serving.commerce.tables import Cart, CartLine, Customer

log = logging.getLogger(__name__)

MERGE_TRIES = 5


def merge(engine: Engine, guest_id: str, customer_id: str, access: carts.Access | None = None) -> CartOut:
    """Move a guest cart's lines into the customer's cart (created if need be); answers the customer's cart.

    Quantities add up (at most MAX_QUANTITY a line); a line already in the customer's cart keeps the price the
    customer saw. The guest cart keeps `merged_into` and no lines. Merging it again into the same customer
    answers that customer's cart again, changing nothing; into another customer it is a `Conflict`. A concurrent
    change to either cart makes the merge start again with what is there now (a few times, then a `Conflict`).
    """
    for attempt in range(MERGE_TRIES):
        try:
            with Session(engine, expire_on_commit=False) as s, s.begin():
                answer = _merge(s, guest_id, customer_id, access)
            log.info("cart %s merged into %s's cart %s", guest_id, customer_id, answer.cart_id)
            return answer
        except (carts.Raced, IntegrityError):
            log.info("merging cart %s: a concurrent change (try %d); again", guest_id, attempt + 1)
    raise Conflict(f"cart {guest_id!r} kept changing while it was merged; try again", "cart_id", guest_id)


def _merge(s: Session, guest_id: str, customer_id: str, access: carts.Access | None) -> CartOut:
    guest = carts.load(s, guest_id)
    if access is not None:
        access(guest)
    if guest.customer_id is not None:
        raise Conflict(f"cart {guest_id!r} is a customer's cart; only a guest cart can be merged", "cart_id", guest_id)
    if guest.merged_into is not None:
        target = s.get(Cart, guest.merged_into)
        if target is not None and target.customer_id == customer_id:
            return carts.view(target, s)  # a retry: already done
        raise Conflict(f"cart {guest_id!r} was already merged into another customer's cart", "cart_id", guest_id)
    if s.get(Customer, customer_id) is None:
        raise Invalid(f"customer_id: unknown customer {customer_id!r}", "customer_id", customer_id)
    now = events.now()
    target = carts.of_customer(s, customer_id)
    if target is None:
        target = carts.new_cart(s, customer_id, guest.store_id, guest.channel)
    elif not carts.bump_version(s, target.cart_id, target.version, now):
        raise carts.Raced()
    if not carts.bump_version(s, guest_id, guest.version, now, merged_into=target.cart_id):
        raise carts.Raced()
    s.refresh(guest)
    s.refresh(target)
    have = {line.product_id: line for line in target.lines}
    for line in list(guest.lines):
        if line.product_id in have:
            have[line.product_id].quantity = min(MAX_QUANTITY, have[line.product_id].quantity + line.quantity)
        else:
            target.lines.append(
                CartLine(
                    product_id=line.product_id,
                    quantity=line.quantity,
                    unit_price_cents=line.unit_price_cents,
                    added_at=line.added_at,
                )
            )
        guest.lines.remove(line)
    if len(target.lines) > MAX_LINES:
        raise Conflict(
            f"customer_id: merging would give {customer_id!r}'s cart {len(target.lines)} lines, "
            f"more than the {MAX_LINES} a cart holds",
            "customer_id",
            customer_id,
        )
    if target.store_id is None and guest.store_id is not None:
        target.store_id = guest.store_id
    s.flush()
    return carts.view(target, s)
