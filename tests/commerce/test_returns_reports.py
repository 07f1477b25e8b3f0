"""Returns (limits, restock, refund, notifications, sale lines), availability, a customer's views, sales reports."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from shopdata import order_in, stock, stock_shop
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from retail.db import connect
from serving.commerce import inventory, orders, reports, returns
from serving.commerce.errors import Conflict, Invalid, NotFound
from serving.commerce.payloads import ReturnIn
from serving.commerce.stock import in_stock
from serving.commerce.tables import OrderEvent, Return, SaleLine


@pytest.fixture
def shop(db_url: str) -> Engine:
    return stock_shop(connect(db_url))


def delivered(engine: Engine, key: str = "k1", **kwargs: object) -> str:
    order, _ = orders.place_order(engine, key, order_in(**kwargs))
    for status in ("paid", "picking", "shipped", "delivered"):
        orders.set_status(engine, order.order_id, status)
    return order.order_id


def give_back(store_id: str, *lines: tuple[str, int]) -> ReturnIn:
    return ReturnIn.model_validate(
        {"store_id": store_id, "lines": [{"product_id": p, "quantity": q} for p, q in lines]}
    )


def test_a_return_restocks_the_receiving_store_and_refunds(shop: Engine) -> None:
    order_id = delivered(shop, lines=[("P1", 3), ("P2", 2)])
    assert stock(shop, "WEB", "P1") == (2, 0)
    answer = returns.return_lines(shop, order_id, give_back("S2", ("P1", 2)))
    assert answer.refund == 20.0 and [(x.product_id, x.quantity, x.refund) for x in answer.lines] == [("P1", 2, 20.0)]
    assert stock(shop, "S2", "P1") == (2, 0), "a store without a stock row for the product gets one"
    assert stock(shop, "WEB", "P1") == (2, 0)
    returns.return_lines(shop, order_id, give_back("S1", ("P2", 1)))
    assert stock(shop, "S1", "P2") == (11, 0)
    order = orders.get_order(shop, order_id)
    assert order.status == "delivered" and [x.returned_quantity for x in order.lines] == [2, 1]
    with Session(shop) as s:
        sales = [
            (x.event, x.product_id, x.quantity, x.store_id) for x in s.scalars(select(SaleLine).order_by(SaleLine.id))
        ]
    assert sales[-2:] == [("returned", "P1", -2, "S2"), ("returned", "P2", -1, "S1")]
    notes = reports.notifications(shop, "C1")
    assert notes[0].kind == "order.returned" and notes[0].payload["refund"] == 2.5


def test_never_more_than_bought_minus_returned(shop: Engine) -> None:
    order_id = delivered(shop, lines=[("P1", 2)])
    returns.return_lines(shop, order_id, give_back("WEB", ("P1", 1)))
    with pytest.raises(Conflict, match=r"lines\[0\].quantity: 2 of product 'P1' .* has 1 left to return"):
        returns.return_lines(shop, order_id, give_back("WEB", ("P1", 1), ("P1", 1)))
    with pytest.raises(Invalid, match=r"lines\[0\].product_id: product 'P2' is not on order"):
        returns.return_lines(shop, order_id, give_back("WEB", ("P2", 1)))
    with pytest.raises(Invalid, match="store_id: unknown store 'S9'"):
        returns.return_lines(shop, order_id, give_back("S9", ("P1", 1)))
    assert stock(shop, "WEB", "P1") == (4, 0), "only the first return restocked"


def test_only_delivered_or_picked_up_orders_take_returns(shop: Engine) -> None:
    order, _ = orders.place_order(shop, "k1", order_in(lines=[("P1", 1)]))
    orders.set_status(shop, order.order_id, "paid")
    with pytest.raises(Conflict, match="only delivered or picked-up orders"):
        returns.return_lines(shop, order.order_id, give_back("WEB", ("P1", 1)))
    with pytest.raises(NotFound):
        returns.return_lines(shop, "nope", give_back("WEB", ("P1", 1)))


def test_availability_per_store_and_online_total(shop: Engine) -> None:
    orders.place_order(shop, "k1", order_in(lines=[("P1", 2)]))
    found = inventory.availability(shop, "P1")
    assert [(x.store_id, x.kind, x.on_hand, x.reserved, x.available) for x in found.stores] == [
        ("S1", "store", 2, 0, 2),
        ("WEB", "online", 5, 2, 3),
    ]
    assert (found.online.on_hand, found.online.reserved, found.online.available) == (5, 2, 3)
    with pytest.raises(NotFound, match="product_id: unknown product 'P9'"):
        inventory.availability(shop, "P9")
    orders.place_order(shop, "k2", order_in(store_id="S2", fulfilment="pickup", lines=[("P3", 1)]))
    stocked, online = in_stock(shop)
    assert stocked == {"WEB": {"P1", "P2"}, "S1": {"P1", "P2"}} and online == ["WEB"], "S2's last P3 is reserved"


def test_a_customers_orders_and_notifications(shop: Engine) -> None:
    first, _ = orders.place_order(shop, "k1", order_in(lines=[("P1", 1)]))
    second, _ = orders.place_order(shop, "k2", order_in(lines=[("P2", 1)]))
    orders.place_order(shop, "k3", order_in(customer_id="C2"))
    orders.set_status(shop, first.order_id, "cancelled")
    assert {o.order_id for o in orders.customer_orders(shop, "C1")} == {first.order_id, second.order_id}
    assert orders.customer_orders(shop, "C1", limit=1)[0].order_id in {first.order_id, second.order_id}
    notes = reports.notifications(shop, "C1")
    assert [(n.order_id, n.payload["status"]) for n in notes] == [
        (first.order_id, "cancelled"),
        (second.order_id, "placed"),
        (first.order_id, "placed"),
    ]
    assert all(n.kind == "order.status_changed" for n in notes)
    with pytest.raises(NotFound):
        orders.customer_orders(shop, "C9")
    with pytest.raises(NotFound):
        reports.notifications(shop, "C9")


def test_sales_report_counts_paid_orders_by_payment_day(shop: Engine) -> None:
    a, _ = orders.place_order(shop, "a", order_in(lines=[("P1", 2)]))  # 20.00, paid
    b, _ = orders.place_order(
        shop, "b", order_in(store_id="S1", channel="store", fulfilment="in_store", lines=[("P2", 4)])
    )  # 10.00, paid
    c, _ = orders.place_order(shop, "c", order_in(lines=[("P2", 1)]))  # placed only: not a sale
    d, _ = orders.place_order(shop, "d", order_in(lines=[("P2", 2)]))  # paid then cancelled: not a sale
    for order_id in (a.order_id, b.order_id, d.order_id):
        orders.set_status(shop, order_id, "paid")
    orders.set_status(shop, d.order_id, "cancelled")
    day = date.today()
    with Session(shop) as s, s.begin():  # move b's payment to yesterday
        paid_at = s.scalar(select(OrderEvent.at).where(OrderEvent.order_id == b.order_id, OrderEvent.status == "paid"))
        s.execute(
            update(OrderEvent)
            .where(OrderEvent.order_id == b.order_id, OrderEvent.status == "paid")
            .values(at=paid_at - timedelta(days=1))
        )
    by_day = reports.sales(shop, day - timedelta(days=1), day, "day")
    assert [(r.key, r.revenue, r.orders, r.units) for r in by_day.rows] == [
        ((day - timedelta(days=1)).isoformat(), 10.0, 1, 4),
        (day.isoformat(), 20.0, 1, 2),
    ]
    assert (by_day.total.revenue, by_day.total.orders, by_day.total.units, by_day.total.average_order_value) == (
        30.0,
        2,
        6,
        15.0,
    )
    by_store = reports.sales(shop, day - timedelta(days=1), day, "store")
    assert [(r.key, r.revenue) for r in by_store.rows] == [("S1", 10.0), ("WEB", 20.0)]
    by_channel = reports.sales(shop, day, day, "channel")
    assert [(r.key, r.revenue, r.orders) for r in by_channel.rows] == [("web", 20.0, 1)]
    assert reports.sales(shop, date(2020, 1, 1), date(2020, 1, 2), "day").total.orders == 0
    assert reports.sales(shop, date.min, date.max, "day").total.orders == 2
    with pytest.raises(Invalid, match="to: .* is before from"):
        reports.sales(shop, day, day - timedelta(days=1), "day")
    assert json.loads(by_day.model_dump_json(by_alias=True))["from"] == (day - timedelta(days=1)).isoformat()


def test_a_retried_return_with_its_key_is_answered_not_recorded_again(shop: Engine) -> None:
    order_id = delivered(shop, lines=[("P1", 2)])
    first, created = returns.record_return(shop, order_id, give_back("S1", ("P1", 1)), "r1", "key:1")
    again, created_again = returns.record_return(shop, order_id, give_back("S1", ("P1", 1)), "r1", "key:1")
    assert created and not created_again and again == first
    assert stock(shop, "S1", "P1") == (3, 0) and orders.get_order(shop, order_id).lines[0].returned_quantity == 1
    with pytest.raises(Conflict, match="Idempotency-Key 'r1' was already used with a different body"):
        returns.record_return(shop, order_id, give_back("WEB", ("P1", 1)), "r1", "key:1")
    other_order = delivered(shop, "k2", lines=[("P2", 1)])
    with pytest.raises(Conflict, match="Idempotency-Key 'r1'"):  # the same body on another order is another return
        returns.record_return(shop, other_order, give_back("S1", ("P2", 1)), "r1", "key:1")
    theirs, created = returns.record_return(shop, order_id, give_back("S1", ("P1", 1)), "r1", "key:2")
    assert created and theirs.return_id != first.return_id, "another caller's key"
    with Session(shop) as s:
        assert s.scalar(select(func.sum(Return.refund_cents))) == 2000
        assert len(s.scalars(select(SaleLine).where(SaleLine.event == "returned")).all()) == 2


def test_a_return_key_may_be_reused_after_the_retention(shop: Engine) -> None:
    order_id = delivered(shop, lines=[("P1", 2)])
    first, _ = returns.record_return(shop, order_id, give_back("S1", ("P1", 1)), "r1", "key:1")
    with Session(shop) as s, s.begin():
        row = s.get(Return, first.return_id)
        assert row is not None
        row.created_at -= timedelta(hours=25)
    later, created = returns.record_return(shop, order_id, give_back("WEB", ("P1", 1)), "r1", "key:1")
    assert created and later.return_id != first.return_id
