"""A tiny shop for the order tests: two customers, an online shop and two stores, three products."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from serving.commerce.payloads import OrderIn
from serving.commerce.tables import Customer, Inventory, Product, Store

T0 = datetime(2026, 1, 1)
PRICES = {"P1": 1000, "P2": 250, "P3": 1999}  # cents
STOCK = {("WEB", "P1"): 5, ("WEB", "P2"): 20, ("S1", "P1"): 2, ("S1", "P2"): 10, ("S2", "P3"): 1}


def customers_and_stores(s: Session) -> None:
    """Customers C1 and C2; stores WEB (online), S1 and S2: the shop every commerce test starts from."""
    s.add_all([Customer(customer_id=c, created_at=T0) for c in ("C1", "C2")])
    s.add_all(
        [
            Store(store_id="WEB", name="web shop", kind="online"),
            Store(store_id="S1", name="high street", kind="store"),
            Store(store_id="S2", name="mall", kind="store"),
        ]
    )


def stock_shop(engine: Engine) -> Engine:
    with Session(engine) as s, s.begin():
        customers_and_stores(s)
        s.add_all([Product(product_id=p, name=f"product {p}", price_cents=c) for p, c in PRICES.items()])
        s.flush()
        s.add_all(
            [Inventory(store_id=st, product_id=p, on_hand=q, reserved=0, updated_at=T0) for (st, p), q in STOCK.items()]
        )
    return engine


def stock(engine: Engine, store_id: str, product_id: str) -> tuple[int, int]:
    """(on_hand, reserved); (0, 0) without a row."""
    with Session(engine) as s:
        row = s.execute(
            select(Inventory.on_hand, Inventory.reserved).where(
                Inventory.store_id == store_id, Inventory.product_id == product_id
            )
        ).first()
    return (0, 0) if row is None else (row.on_hand, row.reserved)


def order_body(
    lines: list[tuple[str, int]] | None = None,
    store_id: str = "WEB",
    customer_id: str | None = "C1",
    fulfilment: str = "ship",
    channel: str = "web",
) -> dict[str, object]:
    return {
        "customer_id": customer_id,
        "channel": channel,
        "fulfilment": fulfilment,
        "store_id": store_id,
        "lines": [{"product_id": p, "quantity": q} for p, q in (lines or [("P1", 1)])],
    }


def order_in(**kwargs: object) -> OrderIn:
    return OrderIn.model_validate(order_body(**kwargs))  # type: ignore[arg-type]


def key(engine: Engine, role: str, **binding: str) -> dict[str, str]:
    """Headers with a new API key of `role` (bound to `customer_id=` or `store_id=` where given)."""
    from serving import auth

    plain, _ = auth.create_key(engine, role, **binding)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {plain}"}
