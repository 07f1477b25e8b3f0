"""The sales report over both sources: imported history and the order API, never counting an order twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from shopdata import key, order_in, stock_shop
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from features.rawio import write_tables
from retail.db import connect
from retail.workspace import Workspace
from serving.commerce import orders, returns, sales_data, sales_report
from serving.commerce.app import create_app
from serving.commerce.export import export_transactions
from serving.commerce.payloads import ReturnIn
from serving.commerce.tables import Order, OrderEvent

TODAY = date.today()
D1, D2 = TODAY - timedelta(days=10), TODAY - timedelta(days=9)


def _at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, datetime.min.time()) + timedelta(hours=hour)


def history(with_places: bool = True) -> dict[str, pd.DataFrame]:
    """H1 (C1, 22.50 at S1), H2 (C2, 19.99 online), H3 (C3, 5.00 at S1), a return of 2.50 at S1."""
    rows = [
        ("H1", "C1", "P1", _at(D1), 2, 10.0, "S1", "store"),
        ("H1", "C1", "P2", _at(D1, 13), 1, 2.5, "S1", "store"),
        ("H2", "C2", "P3", _at(D2), 1, 19.99, "WEB", "online"),
        ("H3", "C3", "P2", _at(D2), 2, 2.5, "S1", "store"),
        ("X1", "C1", "P2", _at(D2, 15), -1, 2.5, "S1", "store"),
    ]
    columns = ["order_id", "customer_id", "product_id", "ts", "quantity", "unit_price", "store_id", "channel"]
    tx = pd.DataFrame(rows, columns=columns)
    products = pd.DataFrame(
        {"product_id": ["P1", "P2", "P3"], "name": ["one", "two", "three"], "category": ["toys", "toys", "garden"]}
    )
    return {"transactions": tx if with_places else tx.drop(columns=["store_id", "channel"]), "products": products}


@pytest.fixture
def shop(db_url: str) -> Engine:
    return stock_shop(connect(db_url))


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace.at(tmp_path / "ws").ensure()
    write_tables(ws.raw_dir, history())
    return ws


def api_orders(engine: Engine) -> dict[str, str]:
    """Today: a (C1, 20.00 shipped 5 h after placing), b (C2, 10.00 in store), c placed only, d paid then cancelled."""
    a, _ = orders.place_order(engine, "a", order_in(lines=[("P1", 2)]))
    in_store = order_in(customer_id="C2", store_id="S1", channel="store", fulfilment="in_store", lines=[("P2", 4)])
    b, _ = orders.place_order(engine, "b", in_store)
    c, _ = orders.place_order(engine, "c", order_in(lines=[("P2", 1)]))
    d, _ = orders.place_order(engine, "d", order_in(lines=[("P2", 2)]))
    for status in ("paid", "picking", "shipped"):
        orders.set_status(engine, a.order_id, status)
    orders.set_status(engine, b.order_id, "paid")
    orders.set_status(engine, d.order_id, "paid")
    orders.set_status(engine, d.order_id, "cancelled")
    with Session(engine) as s, s.begin():
        placed = s.scalar(select(Order.created_at).where(Order.order_id == a.order_id))
        assert placed is not None
        s.execute(
            update(OrderEvent)
            .where(OrderEvent.order_id == a.order_id, OrderEvent.status == "shipped")
            .values(at=placed + timedelta(hours=5))
        )
    return {"a": a.order_id, "b": b.order_id, "c": c.order_id, "d": d.order_id}


def test_history_and_api_orders_both_count_once(shop: Engine, ws: Workspace) -> None:
    api_orders(shop)
    before = sales_report.sales(shop, D1, TODAY, ws=ws)
    t = before.total
    assert (t.orders, t.history_orders, t.api_orders) == (5, 3, 2)
    assert t.revenue == pytest.approx(22.5 + 19.99 + 5.0 + 20.0 + 10.0)
    assert t.units == 3 + 1 + 2 + 2 + 4
    assert t.returns == 2.5 and t.return_rate == round(2.5 / t.revenue, 4)
    assert t.cancellation_rate == 0.25, "d of a, b, c, d placed today"
    assert t.fulfilment_hours == pytest.approx(5.0, abs=0.01), "a: placed to shipped"
    assert t.customers == 3 and t.repeat_purchase_rate == round(2 / 3, 4), "C1 and C2 bought twice, C3 once"
    assert "Order-API orders only" in before.notes["cancellation_rate"]
    assert [r.key for r in before.rows] == [D1.isoformat(), D2.isoformat(), TODAY.isoformat()]
    appended = export_transactions(shop, ws)  # the API's sale lines (a, b, and d's paid and cancelled) go raw
    assert appended >= 4
    after = sales_report.sales(shop, D1, TODAY, ws=ws)
    assert after == before, "orders exported into the raw transactions are still counted once, from the API"


def test_figures_no_order_supports_are_null_with_a_reason(shop: Engine, ws: Workspace) -> None:
    api_orders(shop)
    old = sales_report.sales(shop, D1, D2, ws=ws)
    assert old.total.orders == 3 and old.total.api_orders == 0
    assert old.total.cancellation_rate is None and "records no cancellations" in old.notes["cancellation_rate"]
    assert old.total.fulfilment_hours is None and "fulfilment_hours" in old.notes
    empty = sales_report.sales(shop, date(2001, 1, 1), date(2001, 1, 31), ws=ws)
    assert empty.rows == [] and empty.total.orders == 0 and empty.total.revenue == 0
    assert empty.total.return_rate is None and empty.total.repeat_purchase_rate is None
    assert {"return_rate", "repeat_purchase_rate", "orders"} <= set(empty.notes)


def test_filters_and_groupings(shop: Engine, ws: Workspace) -> None:
    api_orders(shop)
    s1 = sales_report.sales(shop, D1, TODAY, ws=ws, store_id="S1")
    assert (s1.total.orders, s1.total.revenue, s1.total.returns) == (3, 37.5, 2.5), "H1, H3 and b"
    web = sales_report.sales(shop, D1, TODAY, ws=ws, channel="web")
    assert (web.total.orders, web.total.revenue) == (1, 20.0), "a only (history says online, the API web)"
    assert web.total.cancellation_rate == round(1 / 3, 4), "a, c, d placed on the web, d cancelled"
    weeks = sales_report.sales(shop, D1, TODAY, "week", ws=ws)
    assert all(date.fromisoformat(r.key).weekday() == 0 for r in weeks.rows)
    assert sum(r.orders for r in weeks.rows) == weeks.total.orders == 5
    stores = {r.key: r for r in sales_report.sales(shop, D1, TODAY, "store", ws=ws).rows}
    assert set(stores) == {"S1", "WEB"} and stores["S1"].orders == 3 and stores["WEB"].orders == 2
    channels = {r.key: r.orders for r in sales_report.sales(shop, D1, TODAY, "channel", ws=ws).rows}
    assert channels == {"online": 1, "store": 3, "web": 1}


def test_history_without_stores_says_so(shop: Engine, tmp_path: Path) -> None:
    plain = Workspace.at(tmp_path / "plain").ensure()
    write_tables(plain.raw_dir, history(with_places=False))
    api_orders(shop)
    by_store = sales_report.sales(shop, D1, TODAY, "store", ws=plain)
    assert {r.key: r.orders for r in by_store.rows} == {"unknown": 3, "S1": 1, "WEB": 1}
    assert "no stores" in by_store.notes["store_id"]
    s1 = sales_report.sales(shop, D1, TODAY, ws=plain, store_id="S1")
    assert s1.total.orders == 1 and "only order-API orders" in s1.notes["store_id"]
    assert sales_report.choices(sales_report.sales_data.sources(shop, plain))[2:] == (False, False)


def test_products_categories_and_open_orders(shop: Engine, ws: Workspace) -> None:
    ids = api_orders(shop)
    top = sales_report.products(shop, D1, TODAY, ws=ws)
    assert [(p["product_id"], p["revenue"], p["units"]) for p in top] == [
        ("P1", 40.0, 4),  # H1 2 x 10.00, a 2 x 10.00
        ("P3", 19.99, 1),
        ("P2", 17.5, 7),  # H1 1, H3 2, b 4 (at 2.50)
    ]
    assert top[2]["returned_units"] == 1 and top[0]["name"] == "product P1" and top[1]["category"] == "garden"
    categories = sales_report.products(shop, D1, TODAY, ws=ws, level="category")
    assert [(c["category"], c["revenue"], c["products"]) for c in categories] == [
        ("toys", 57.5, 2),
        ("garden", 19.99, 1),
    ]
    assert sales_report.open_orders(shop) == {
        "placed": 1,
        "paid": 1,
        "picking": 0,
        "shipped": 1,
        "ready_for_pickup": 0,
    }
    orders.set_status(shop, ids["a"], "delivered")
    returns.return_lines(
        shop, ids["a"], ReturnIn.model_validate({"store_id": "S1", "lines": [{"product_id": "P1", "quantity": 1}]})
    )
    assert sales_report.open_orders(shop, store_id="WEB")["shipped"] == 0
    later = sales_report.sales(shop, D1, TODAY, ws=ws, store_id="S1")
    assert later.total.returns == 12.5, "the cache sees the return: a's refund counts at the store that took it"


@pytest.fixture
def client(shop: Engine, ws: Workspace) -> Iterator[TestClient]:
    app = create_app()
    app.state.db_engine, app.state.workspace = shop, ws
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_the_api_answers_the_same_report(client: TestClient, shop: Engine, ws: Workspace) -> None:
    api_orders(shop)
    planner = key(shop, "planner")
    params = {"from": D1.isoformat(), "to": TODAY.isoformat(), "by": "week", "store_id": "S1"}
    answer = client.get("/v1/reports/sales", params=params, headers=planner)
    assert answer.status_code == 200
    expected = sales_report.sales(shop, D1, TODAY, "week", ws=ws, store_id="S1")
    assert answer.json() == expected.model_dump(mode="json", by_alias=True)
    assert answer.json()["total"]["orders"] == 3 and answer.json()["store_id"] == "S1"
    bad = client.get("/v1/reports/sales", params=params | {"by": "month"}, headers=planner)
    assert bad.status_code == 422 and "by" in str(bad.json()["detail"])
    store = key(shop, "store", store_id="S1")
    assert client.get("/v1/reports/sales", params=params, headers=store).status_code == 403


def test_sources_are_loaded_once_and_again_when_they_change(shop: Engine, ws: Workspace) -> None:
    sales_data.warm(shop, ws).join()
    history_frames, api_frames = sales_data.sources(shop, ws)
    assert all(a is b for a, b in zip(sales_data.sources(shop, ws), (history_frames, api_frames), strict=True))
    orders.place_order(shop, "new", order_in(lines=[("P1", 1)]))
    again = sales_data.sources(shop, ws)
    assert again[0] is history_frames and again[1] is not api_frames, "an order changed: the API's frames reload"
    write_tables(ws.raw_dir, history())
    assert sales_data.sources(shop, ws)[0] is not history_frames, "the raw file was rewritten: history reloads"
