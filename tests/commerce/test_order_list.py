"""GET /v1/orders on SQLite and PostgreSQL: every filter, every sort walked page by page, role scoping, 422s.

The expected answers are computed here from the orders as they were planted (times, totals, statuses), not read
back from the listing, so a filter or a page boundary that drops or repeats an order fails.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shopdata import key, order_in, stock_shop
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from retail.db import connect
from serving import auth
from serving.commerce import events, order_list, orders
from serving.commerce.errors import Invalid
from serving.commerce.tables import Inventory, PersonalOffer

CUSTOMERS = ("C1", "C2", None)
STORES = ("WEB", "S1", "S2")
CHANNELS = ("web", "mobile", "store", "sales_rep")
PRODUCTS = ("P1", "P2", "P3")
START = datetime(2026, 3, 1, 9, 0)
PAID_AT = datetime(2026, 3, 5, 12, 0)


@dataclass
class Planted:
    order_id: str
    customer_id: str | None
    store_id: str
    channel: str
    status: str
    created_at: datetime
    total_cents: int
    paid_at: datetime | None


class Clock:
    """`events.now` under the test's control, so orders get the times the expectations use."""

    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    auth.forget()
    engine = stock_shop(connect(db_url))
    with Session(engine) as s, s.begin():  # plenty of every product everywhere
        s.execute(delete(Inventory))
        s.add_all(
            Inventory(store_id=st, product_id=p, on_hand=1000, reserved=0, updated_at=START)
            for st in STORES
            for p in PRODUCTS
        )
    yield engine
    auth.forget()


@pytest.fixture
def planted(shop: Engine, monkeypatch: pytest.MonkeyPatch) -> list[Planted]:
    """18 orders: pairs placed at the same time (ties on created_at), repeated totals (ties on total), every
    customer, store and channel, and statuses from placed to shipped and cancelled, paid at known times."""
    clock = Clock()
    monkeypatch.setattr(events, "now", clock)
    made: list[Planted] = []
    for i in range(18):
        clock.at = START + timedelta(hours=i // 2)
        customer, store = CUSTOMERS[i % 3], STORES[(i // 3) % 3]
        body = order_in(
            lines=[(PRODUCTS[i % 3], 1 + i % 2)],
            store_id=store,
            customer_id=customer,
            channel=CHANNELS[i % 4],
        )
        order, _ = orders.place_order(shop, f"k{i}", body)
        status, paid_at = "placed", None
        moves = ("paid", "picking", "shipped") if i % 5 in (1, 2) else ("paid",) if i % 5 == 3 else ()
        if i % 5 == 4:
            moves = ("cancelled",)
        for n, move in enumerate(moves):
            clock.at = PAID_AT + timedelta(hours=i) + timedelta(minutes=n)
            paid_at = clock.at if move == "paid" else paid_at
            status = orders.set_status(shop, order.order_id, move).status
        total = round(order.total * 100)
        placed = START + timedelta(hours=i // 2)
        made.append(Planted(order.order_id, customer, store, CHANNELS[i % 4], status, placed, total, paid_at))
    return made


def listing(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    answer = client.get("/v1/orders", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def walk(client: TestClient, headers: dict[str, str], cursor: str | None = None, **params: Any) -> list[str]:
    """Every order id, page after page, following `next_cursor` to the end (from `cursor`, if given)."""
    ids: list[str] = []
    for _ in range(100):
        page = listing(client, headers, **params, **({"cursor": cursor} if cursor else {}))
        ids += [o["order_id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("the walk did not end")


def newest_first(rows: list[Planted]) -> list[str]:
    return [r.order_id for r in sorted(rows, key=lambda r: (r.created_at, r.order_id), reverse=True)]


def expect(rows: list[Planted], keep: Callable[[Planted], bool]) -> list[str]:
    return newest_first([r for r in rows if keep(r)])


def test_default_is_newest_first_and_orders_answer_whole(
    client: TestClient, shop: Engine, planted: list[Planted]
) -> None:
    admin = key(shop, "admin")
    redeemed = next(r.order_id for r in planted if r.customer_id == "C1")
    with Session(shop) as s, s.begin():  # an offer this order redeemed: listed with its code, as GET answers it
        s.add(
            PersonalOffer(
                code="OFF-1",
                customer_id="C1",
                product_id="P1",
                kind="cross_sell",
                discount_pct=10,
                cap_cents=100,
                reason="test",
                issued_at=START,
                expires_at=START + timedelta(days=14),
                redeemed_order_id=redeemed,
            )
        )
    page = listing(client, admin)
    assert [o["order_id"] for o in page["items"]] == newest_first(planted)
    assert page["next_cursor"] is None  # 18 orders fit the default page of 25
    for one in page["items"]:
        assert one == client.get(f"/v1/orders/{one['order_id']}", headers=admin).json()  # as GET /v1/orders/{id}
        assert one["offer_codes"] == (["OFF-1"] if one["order_id"] == redeemed else [])


def test_each_filter_selects_exactly_its_orders(client: TestClient, shop: Engine, planted: list[Planted]) -> None:
    admin = key(shop, "admin")
    at = START + timedelta(hours=3)
    paid_from, paid_to = PAID_AT + timedelta(hours=2), PAID_AT + timedelta(hours=12)
    cases: list[tuple[dict[str, Any], Callable[[Planted], bool]]] = [
        ({"status": "paid"}, lambda r: r.status == "paid"),
        ({"status": ["shipped", "cancelled"]}, lambda r: r.status in ("shipped", "cancelled")),
        ({"status": "placed,paid"}, lambda r: r.status in ("placed", "paid")),
        ({"channel": "store"}, lambda r: r.channel == "store"),
        ({"store_id": "S1"}, lambda r: r.store_id == "S1"),
        ({"customer_id": "C2"}, lambda r: r.customer_id == "C2"),
        ({"placed_from": at.isoformat()}, lambda r: r.created_at >= at),
        ({"placed_to": at.isoformat()}, lambda r: r.created_at < at),
        ({"placed_from": "2026-03-01T12:00:00+01:00"}, lambda r: r.created_at >= START + timedelta(hours=2)),
        ({"paid_from": paid_from.isoformat()}, lambda r: r.paid_at is not None and r.paid_at >= paid_from),
        (
            {"paid_from": paid_from.isoformat(), "paid_to": paid_to.isoformat()},
            lambda r: r.paid_at is not None and paid_from <= r.paid_at < paid_to,
        ),
        (
            {"status": "shipped", "store_id": "WEB", "channel": "mobile"},
            lambda r: (r.status, r.store_id, r.channel) == ("shipped", "WEB", "mobile"),
        ),
        ({"store_id": "S9"}, lambda r: False),
    ]
    for params, keep in cases:
        wanted = expect(planted, keep)
        got = [o["order_id"] for o in listing(client, admin, **params)["items"]]
        assert got == wanted, params
    assert any(expect(planted, keep) for _, keep in cases[:-1])  # the data makes every case select something
    assert all(0 < len(expect(planted, keep)) < len(planted) for _, keep in cases[:-1])


def test_cursor_walk_in_every_sort_has_no_gap_or_repeat(
    client: TestClient, shop: Engine, planted: list[Planted]
) -> None:
    admin = key(shop, "admin")
    for sort in ("-created_at", "created_at", "-total", "total"):
        field = "total_cents" if sort.endswith("total") else "created_at"
        rows = sorted(planted, key=lambda r: (getattr(r, field), r.order_id), reverse=sort.startswith("-"))
        assert len({getattr(r, field) for r in planted}) < len(planted)  # ties: the order_id tie-break is exercised
        for limit in (1, 4):
            assert walk(client, admin, sort=sort, limit=limit) == [r.order_id for r in rows], (sort, limit)
        filtered = [r.order_id for r in rows if r.status in ("placed", "paid")]
        assert walk(client, admin, sort=sort, limit=3, status="placed,paid") == filtered, sort


def test_orders_placed_during_a_walk_do_not_shift_it(
    client: TestClient, shop: Engine, planted: list[Planted], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = key(shop, "admin")
    first = listing(client, admin, limit=5)
    monkeypatch.setattr(events, "now", lambda: START + timedelta(days=30))
    orders.place_order(shop, "late", order_in())
    rest = walk(client, admin, limit=5, cursor=first["next_cursor"])
    assert [o["order_id"] for o in first["items"]] + rest == newest_first(planted)


def test_a_store_key_sees_its_store_and_a_customer_key_its_orders(
    client: TestClient, shop: Engine, planted: list[Planted]
) -> None:
    s1, c1 = key(shop, "store", store_id="S1"), key(shop, "customer", customer_id="C1")
    assert walk(client, s1, limit=2) == expect(planted, lambda r: r.store_id == "S1")
    assert walk(client, s1, store_id="S1", status="placed") == expect(
        planted, lambda r: r.store_id == "S1" and r.status == "placed"
    )
    assert walk(client, c1, limit=3) == expect(planted, lambda r: r.customer_id == "C1")
    assert walk(client, c1, customer_id="C1", store_id="WEB") == expect(
        planted, lambda r: r.customer_id == "C1" and r.store_id == "WEB"
    )
    refused = [
        (s1, {"store_id": "S2"}, "store key may only act for its own store"),
        (c1, {"customer_id": "C2"}, "customer key may only act for its own customer"),
    ]
    for headers, params, detail in refused:
        answer = client.get("/v1/orders", params=params, headers=headers)
        assert answer.status_code == 403 and detail in answer.json()["detail"], answer.text
    for role in ("admin", "ops", "sales_rep"):
        assert walk(client, key(shop, role), limit=25) == newest_first(planted)
    for role in ("marketing", "planner", "app"):
        assert client.get("/v1/orders", headers=key(shop, role)).status_code == 403
    assert client.get("/v1/orders").status_code == 401


def _cursor(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_bad_queries_are_422s_naming_the_field(client: TestClient, shop: Engine, planted: list[Planted]) -> None:
    admin = key(shop, "admin")
    by_total = listing(client, admin, sort="-total", limit=2)["next_cursor"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"cursor": "not-a-cursor"}, "cursor: 'not-a-cursor' is not a cursor"),
        ({"cursor": by_total}, "cursor:"),  # a cursor of another sort
        ({"cursor": _cursor(["-created_at", 5, "O1"])}, "cursor:"),
        ({"cursor": _cursor(["-created_at", "2026-03-01T09:00:00+00:00", "O1"])}, "cursor:"),
        ({"cursor": _cursor(["-total", "x", "O1"]), "sort": "-total"}, "cursor:"),
        ({"cursor": _cursor({"a": 1})}, "cursor:"),
        ({"placed_from": "2026-03-02", "placed_to": "2026-03-01"}, "placed_to: 2026-03-01T00:00:00 is before"),
        ({"paid_from": "2026-03-02", "paid_to": "2026-03-01"}, "paid_to:"),
    ]
    for params, detail in cases:
        answer = client.get("/v1/orders", params=params, headers=admin)
        assert answer.status_code == 422 and answer.json()["detail"].startswith(detail), (params, answer.text)
    malformed: list[tuple[dict[str, Any], list[str | int]]] = [
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 101}, ["query", "limit"]),
        ({"sort": "name"}, ["query", "sort"]),
        ({"channel": "fax"}, ["query", "channel"]),
        ({"placed_from": "yesterday"}, ["query", "placed_from"]),
        ({"paid_to": "1700000000"}, ["query", "paid_to"]),
        ({"colour": "red"}, ["query", "colour"]),
        ({"store_id": "S\x001"}, ["query", "store_id"]),
        ({"cursor": "x" * 401}, ["query", "cursor"]),
        ({"status": ["paid", ""]}, ["query", "status", 1]),
        ({"status": "paid,lost"}, ["query", "status", 0]),
        ({"status": ["paid", "paid,"]}, ["query", "status", 1]),
        ({"status": "paid, picking"}, ["query", "status", 0]),
    ]
    for params, loc in malformed:
        answer = client.get("/v1/orders", params=params, headers=admin)
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == loc, (params, answer.text)


def test_every_status_is_documented(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    listed = spec["paths"]["/v1/orders"]["get"]["responses"]
    assert {"200", "401", "403", "422"} <= set(listed)
    params = {p["name"] for p in spec["paths"]["/v1/orders"]["get"]["parameters"]}
    assert {"status", "channel", "store_id", "customer_id", "placed_from", "paid_to", "sort", "cursor"} <= params


def test_statuses_name_the_unknown_one() -> None:
    """The domain check (the query's pattern already refuses an unknown status over HTTP)."""
    assert order_list.statuses(["paid,picking", "paid"]) == ("paid", "picking")
    with pytest.raises(Invalid, match="status: unknown status 'lost'"):
        order_list.statuses(["paid,lost"])
