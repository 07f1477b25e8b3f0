"""Placing orders and moving them through their statuses: prices, stock, idempotency, history, outbox, sales."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from shopdata import order_in, stock, stock_shop
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retail.db import connect
from serving.commerce import orders
from serving.commerce.errors import Conflict, Invalid, NotFound, OutOfStock
from serving.commerce.tables import Order, Outbox, SaleLine


@pytest.fixture
def shop(db_url: str) -> Engine:
    return stock_shop(connect(db_url))


def count(engine: Engine, table: type) -> int:
    with Session(engine) as s:
        return len(s.scalars(select(table)).all())


def test_an_order_reserves_stock_at_catalogue_prices(shop: Engine) -> None:
    order, created = orders.place_order(shop, "k1", order_in(lines=[("P1", 2), ("P2", 3), ("P1", 1)]))
    assert created and order.status == "placed" and order.customer_id == "C1"
    assert [(x.product_id, x.quantity, x.unit_price) for x in order.lines] == [("P1", 3, 10.0), ("P2", 3, 2.5)]
    assert order.total == 37.5 and [e.status for e in order.history] == ["placed"]
    assert stock(shop, "WEB", "P1") == (5, 3) and stock(shop, "WEB", "P2") == (20, 3)
    assert orders.get_order(shop, order.order_id) == order


def test_a_guest_order_has_no_customer(shop: Engine) -> None:
    order, _ = orders.place_order(shop, "guest", order_in(customer_id=None, store_id="S1", fulfilment="in_store"))
    assert order.customer_id is None and order.store_id == "S1"


def test_same_key_same_body_is_the_same_order_and_another_body_a_conflict(shop: Engine) -> None:
    first, created = orders.place_order(shop, "k1", order_in(lines=[("P1", 2)]))
    again, created_again = orders.place_order(shop, "k1", order_in(lines=[("P1", 2)]))
    assert created and not created_again and again == first
    with pytest.raises(Conflict, match="Idempotency-Key 'k1' was already used"):
        orders.place_order(shop, "k1", order_in(lines=[("P1", 3)]))
    assert count(shop, Order) == 1 and stock(shop, "WEB", "P1") == (5, 2)


def test_short_stock_names_product_and_available_and_reserves_nothing(shop: Engine) -> None:
    orders.place_order(shop, "k0", order_in(lines=[("P1", 4)]))
    with pytest.raises(OutOfStock) as refused:
        orders.place_order(shop, "k1", order_in(lines=[("P2", 5), ("P1", 2)]))
    assert refused.value.product_id == "P1" and refused.value.available == 1
    assert "lines[1].quantity: product 'P1' has 1 available at store 'WEB', 2 requested" in str(refused.value)
    assert stock(shop, "WEB", "P2") == (20, 0), "the P2 line's reservation must roll back too"
    assert count(shop, Order) == 1
    with pytest.raises(OutOfStock, match="'P3' has 0 available"):  # no stock row at all
        orders.place_order(shop, "k2", order_in(lines=[("P3", 1)]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customer_id": "C9"}, "customer_id: unknown customer 'C9'"),
        ({"store_id": "S9"}, "store_id: unknown store 'S9'"),
        ({"lines": [("P1", 1), ("P9", 1)]}, r"lines\[1\].product_id: unknown product 'P9'"),
    ],
)
def test_unknown_references_are_refused_by_name(shop: Engine, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(Invalid, match=message):
        orders.place_order(shop, "k1", order_in(**kwargs))
    assert count(shop, Order) == 0 and stock(shop, "WEB", "P1") == (5, 0)


def walk(engine: Engine, order_id: str, *statuses: str) -> None:
    for status in statuses:
        assert orders.set_status(engine, order_id, status).status == status


def test_shipping_path_consumes_stock_and_records_each_step(shop: Engine) -> None:
    order, _ = orders.place_order(shop, "k1", order_in(lines=[("P1", 2)]))
    walk(shop, order.order_id, "paid", "picking")
    assert stock(shop, "WEB", "P1") == (5, 2)
    walk(shop, order.order_id, "shipped")
    assert stock(shop, "WEB", "P1") == (3, 0)
    walk(shop, order.order_id, "delivered")
    done = orders.get_order(shop, order.order_id)
    assert [e.status for e in done.history] == ["placed", "paid", "picking", "shipped", "delivered"]
    with Session(shop) as s:
        notes = s.scalars(select(Outbox).where(Outbox.order_id == order.order_id).order_by(Outbox.id)).all()
        sales = s.scalars(select(SaleLine)).all()
    assert [n.kind for n in notes] == ["order.status_changed"] * 5
    payload = json.loads(notes[1].payload)
    assert payload["status"] == "paid" and payload["order_id"] == order.order_id and payload["customer_id"] == "C1"
    assert "at" in payload
    assert [(x.event, x.product_id, x.quantity, x.unit_price_cents) for x in sales] == [("paid", "P1", 2, 1000)]


def test_pickup_path_consumes_at_pick_up(shop: Engine) -> None:
    order, _ = orders.place_order(shop, "k1", order_in(store_id="S1", fulfilment="pickup", lines=[("P2", 4)]))
    walk(shop, order.order_id, "paid", "picking", "ready_for_pickup")
    assert stock(shop, "S1", "P2") == (10, 4)
    walk(shop, order.order_id, "picked_up")
    assert stock(shop, "S1", "P2") == (6, 0)


@pytest.mark.parametrize("paid", [False, True])
def test_cancel_releases_and_negates_a_paid_sale(shop: Engine, paid: bool) -> None:
    order, _ = orders.place_order(shop, "k1", order_in(lines=[("P1", 2)]))
    if paid:
        walk(shop, order.order_id, "paid")
    walk(shop, order.order_id, "cancelled")
    assert stock(shop, "WEB", "P1") == (5, 0)
    with Session(shop) as s:
        sales = [(x.event, x.quantity) for x in s.scalars(select(SaleLine).order_by(SaleLine.id))]
    assert sales == ([("paid", 2), ("cancelled", -2)] if paid else [])


@pytest.mark.parametrize(
    ("fulfilment", "path", "illegal"),
    [
        ("ship", [], "shipped"),
        ("ship", [], "delivered"),
        ("ship", ["paid", "picking"], "ready_for_pickup"),
        ("pickup", ["paid", "picking"], "shipped"),
        ("ship", ["paid", "picking"], "cancelled"),
        ("ship", ["cancelled"], "paid"),
        ("in_store", ["paid", "picking", "ready_for_pickup", "picked_up"], "cancelled"),
    ],
)
def test_illegal_moves_are_conflicts_and_change_nothing(
    shop: Engine, fulfilment: str, path: list[str], illegal: str
) -> None:
    order, _ = orders.place_order(shop, "k1", order_in(fulfilment=fulfilment, store_id="S1", lines=[("P2", 1)]))
    walk(shop, order.order_id, *path)
    before = orders.get_order(shop, order.order_id)
    with pytest.raises(Conflict, match=f"status: order {order.order_id} is .*not '{illegal}'"):
        orders.set_status(shop, order.order_id, illegal)
    assert orders.get_order(shop, order.order_id) == before


def test_repeating_the_current_status_changes_nothing(shop: Engine) -> None:
    order, _ = orders.place_order(shop, "k1", order_in())
    walk(shop, order.order_id, "paid")
    again = orders.set_status(shop, order.order_id, "paid")
    assert [e.status for e in again.history] == ["placed", "paid"]
    assert count(shop, SaleLine) == 1


def test_unknown_order_is_not_found(shop: Engine) -> None:
    with pytest.raises(NotFound, match="order_id: unknown order 'nope'"):
        orders.set_status(shop, "nope", "paid")
    with pytest.raises(NotFound):
        orders.get_order(shop, "nope")


def backdate(engine: Engine, order_id: str, hours: float) -> None:
    with Session(engine) as s, s.begin():
        order = s.get(Order, order_id)
        assert order is not None
        order.created_at -= timedelta(hours=hours)


def test_keys_belong_to_a_scope_and_may_be_reused_after_the_retention(
    shop: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = orders.place_order(shop, "k1", order_in(lines=[("P1", 1)]), scope="key:1")
    other, created = orders.place_order(shop, "k1", order_in(lines=[("P2", 1)]), scope="key:2")
    assert created and other.order_id != first.order_id, "another caller's key is not occupied"
    with pytest.raises(Conflict, match="Idempotency-Key 'k1' was already used"):
        orders.place_order(shop, "k1", order_in(lines=[("P2", 1)]), scope="key:1")
    backdate(shop, first.order_id, 25)  # past the default 24 hours
    reused, created = orders.place_order(shop, "k1", order_in(lines=[("P2", 1)]), scope="key:1")
    assert created and reused.order_id != first.order_id
    with Session(shop) as s:
        old = s.get(Order, first.order_id)
        assert old is not None and old.idempotency_key is None, "the old order gave its key up"
    monkeypatch.setenv("RETAIL_IDEMPOTENCY_HOURS", "48")
    backdate(shop, other.order_id, 25)
    replay, created = orders.place_order(shop, "k1", order_in(lines=[("P2", 1)]), scope="key:2")
    assert not created and replay.order_id == other.order_id, "within a 48-hour retention"
    assert count(shop, Order) == 3


def test_migration_0004_keeps_existing_keys_in_the_scope_of_the_key_that_placed_them(db_url: str) -> None:
    """Orders placed before keys were scoped answer retries from the same caller after the upgrade."""
    from sqlalchemy import create_engine, text

    from retail.db import upgrade as migrate

    engine = create_engine(db_url)
    migrate(engine, "0003")
    with engine.begin() as c:
        c.execute(text("INSERT INTO customers (customer_id, created_at) VALUES ('C1', '2026-01-01')"))
        c.execute(text("INSERT INTO stores (store_id, name, kind) VALUES ('WEB', 'web', 'online')"))
        c.execute(
            text(
                "INSERT INTO api_keys (id, prefix, key_hash, role, customer_id, created_at) VALUES "
                "(7, 'rk_a', 'h', 'customer', 'C1', '2026-01-01'), (8, 'rk_b', 'h', 'admin', NULL, '2026-01-01')"
            )
        )
        for order_id, by in (("O1", 7), ("O2", 8), ("O3", None)):
            c.execute(
                text(
                    "INSERT INTO orders (order_id, channel, fulfilment, store_id, status, total_cents, idempotency_key,"
                    " created_by, created_at, updated_at) VALUES (:o, 'web', 'ship', 'WEB', 'placed', 0, :o, :by,"
                    " '2026-01-01', '2026-01-01')"
                ),
                {"o": order_id, "by": by},
            )
    migrate(engine, "head")
    with engine.connect() as c:
        rows = c.execute(text("SELECT order_id, idempotency_scope FROM orders ORDER BY order_id")).all()
    assert [tuple(r) for r in rows] == [("O1", "customer:C1"), ("O2", "key:8"), ("O3", "")]
    with engine.begin() as c:  # the key is unique per scope now, no longer across callers
        c.execute(text("UPDATE orders SET idempotency_key = 'O1' WHERE order_id IN ('O2', 'O3')"))
    engine.dispose()
