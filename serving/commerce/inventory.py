"""Stock moves on the `inventory` table, each one conditional SQL statement so concurrent writers never oversell.

`available = on_hand - reserved`. Placing an order reserves, cancelling releases, shipping or pick-up consumes
(on_hand and reserved both drop), a return restocks the store that takes it back. The database's check
constraints (reserved >= 0, on_hand >= reserved) are the last line of defence; these functions never rely on
them for the normal "not enough stock" answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from retail import db
from serving.commerce.errors import NotFound
from serving.commerce.payloads import AvailabilityOut, StockOut, StoreStockOut
from serving.commerce.tables import Inventory, Product, Store

log = logging.getLogger(__name__)


def try_reserve(s: Session, store_id: str, product_id: str, quantity: int, now: datetime) -> bool:
    """Reserve `quantity` if that many are available, in one statement: False (nothing changed) otherwise.

    The condition is evaluated on the row as it is when the update gets it (PostgreSQL re-checks it after
    waiting for a concurrent writer's lock; SQLite writers are serialised by BEGIN IMMEDIATE), so the last unit
    goes to exactly one order.
    """
    result = s.execute(
        update(Inventory)
        .where(
            Inventory.store_id == store_id,
            Inventory.product_id == product_id,
            Inventory.on_hand - Inventory.reserved >= quantity,
        )
        .values(reserved=Inventory.reserved + quantity, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def available(s: Session, store_id: str, product_id: str) -> int:
    row = s.execute(
        select(Inventory.on_hand, Inventory.reserved).where(
            Inventory.store_id == store_id, Inventory.product_id == product_id
        )
    ).first()
    return 0 if row is None else max(row.on_hand - row.reserved, 0)


def _move(s: Session, store_id: str, quantities: Iterable[tuple[str, int]], now: datetime, consume: bool) -> None:
    for product_id, quantity in sorted(quantities):  # a fixed order: two transactions never deadlock
        values = {"reserved": Inventory.reserved - quantity, "updated_at": now}
        if consume:
            values["on_hand"] = Inventory.on_hand - quantity
        result = s.execute(
            update(Inventory)
            .where(Inventory.store_id == store_id, Inventory.product_id == product_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise RuntimeError(f"no inventory row for reserved stock: store {store_id!r}, product {product_id!r}")


def release(s: Session, store_id: str, quantities: Iterable[tuple[str, int]], now: datetime) -> None:
    """A cancelled order's reservations go back to available."""
    _move(s, store_id, quantities, now, consume=False)


def consume(s: Session, store_id: str, quantities: Iterable[tuple[str, int]], now: datetime) -> None:
    """Reserved units leave the store (shipped or picked up): on_hand and reserved both drop."""
    _move(s, store_id, quantities, now, consume=True)


def restock(s: Session, store_id: str, product_id: str, quantity: int, now: datetime) -> None:
    """Returned units go on the shelf of the store that took them back, creating its stock row if it has none."""
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Inventory).values(
        store_id=store_id, product_id=product_id, on_hand=quantity, reserved=0, updated_at=now
    )
    s.execute(
        statement.on_conflict_do_update(
            index_elements=["store_id", "product_id"],
            set_={"on_hand": Inventory.on_hand + quantity, "updated_at": now},
        )
    )


def availability(engine: Engine, product_id: str) -> AvailabilityOut:
    """Per store on_hand, reserved and available, and the online total (stores of kind `online`)."""
    with Session(db.reader(engine)) as s:
        if s.get(Product, product_id) is None:
            raise NotFound(f"product_id: unknown product {product_id!r}", "product_id", product_id)
        rows = s.execute(
            select(Inventory.store_id, Store.kind, Inventory.on_hand, Inventory.reserved)
            .join(Store, Store.store_id == Inventory.store_id)
            .where(Inventory.product_id == product_id)
            .order_by(Inventory.store_id)
        ).all()
    stores = [
        StoreStockOut(
            store_id=r.store_id, kind=r.kind, on_hand=r.on_hand, reserved=r.reserved, available=r.on_hand - r.reserved
        )
        for r in rows
    ]
    online = [x for x in stores if x.kind == "online"]
    on_hand, reserved = sum(x.on_hand for x in online), sum(x.reserved for x in online)
    return AvailabilityOut(
        product_id=product_id,
        stores=stores,
        online=StockOut(on_hand=on_hand, reserved=reserved, available=on_hand - reserved),
    )
