"""Delivery details on shipping, on SQLite and PostgreSQL: stored with the move, shown in the order and in the
`shipped` notification, retried harmlessly, refused (422 or 409 naming the field) when they cannot be right."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shopdata import key, order_body, stock, stock_shop
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retail.db import connect
from serving import auth
from serving.commerce.tables import Order, Outbox

DETAILS = {"carrier": "DHL", "tracking_number": "JD0146 0000 3828", "estimated_delivery": "2099-12-10"}


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    auth.forget()
    yield stock_shop(connect(db_url))
    auth.forget()


def picking(client: TestClient, headers: dict[str, str], fulfilment: str = "ship", store_id: str = "WEB") -> str:
    """A new order of 2 x P1 at `store_id`, paid and being picked: ready to ship."""
    body = order_body(lines=[("P1", 2)], fulfilment=fulfilment, store_id=store_id)
    placed = client.post("/v1/orders", json=body, headers=headers | {"Idempotency-Key": f"k-{fulfilment}-{store_id}"})
    assert placed.status_code == 201, placed.text
    order_id: str = placed.json()["order_id"]
    for status in ("paid", "picking"):
        assert move(client, headers, order_id, status=status).status_code == 200
    return order_id


def move(client: TestClient, headers: dict[str, str], order_id: str, **body: Any):  # type: ignore[no-untyped-def]
    return client.post(f"/v1/orders/{order_id}/status", json=body, headers=headers)


def shipped_notices(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    notes = client.get("/v1/customers/C1/notifications", headers=headers).json()
    return [n["payload"] for n in notes if n["kind"] == "order.status_changed" and n["payload"]["status"] == "shipped"]


def test_details_are_stored_shown_and_announced(client: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    order_id = picking(client, admin)
    shipped = move(client, admin, order_id, status="shipped", **DETAILS)
    assert shipped.status_code == 200, shipped.text
    delivery = {"carrier": "DHL", "tracking_number": "JD0146 0000 3828", "estimated_delivery": "2099-12-10T00:00:00Z"}
    assert shipped.json()["status"] == "shipped" and shipped.json()["delivery"] == delivery
    assert client.get(f"/v1/orders/{order_id}", headers=admin).json()["delivery"] == delivery
    listed = client.get("/v1/orders", params={"status": "shipped"}, headers=admin).json()["items"]
    assert [o["delivery"] for o in listed] == [delivery]
    [notice] = shipped_notices(client, admin)
    assert notice["order_id"] == order_id
    assert (notice["carrier"], notice["tracking_number"]) == ("DHL", "JD0146 0000 3828")
    assert notice["estimated_delivery"] == "2099-12-10T00:00:00"
    with Session(shop) as s:  # the outbox row webhooks deliver carries them too
        payloads = [json.loads(p) for p in s.scalars(select(Outbox.payload).where(Outbox.order_id == order_id))]
    assert [p["carrier"] for p in payloads if p.get("status") == "shipped"] == ["DHL"]
    assert all("carrier" not in p for p in payloads if p.get("status") != "shipped")
    assert stock(shop, "WEB", "P1") == (3, 0)  # shipping consumed the reservation, once


def test_a_retry_is_harmless_and_other_details_are_a_409(client: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    order_id = picking(client, admin)
    first = move(client, admin, order_id, status="shipped", **DETAILS).json()
    for again in (DETAILS, {}, {"carrier": "DHL"}, {"estimated_delivery": "2099-12-10T00:00:00Z"}):
        retried = move(client, admin, order_id, status="shipped", **again)
        assert retried.status_code == 200 and retried.json() == first, (again, retried.text)
    for field, other in (("carrier", "UPS"), ("tracking_number", "X1"), ("estimated_delivery", "2099-12-11")):
        refused = move(client, admin, order_id, status="shipped", **{**DETAILS, field: other})
        assert refused.status_code == 409 and refused.json()["detail"].startswith(f"{field}: order {order_id}")
    assert len(shipped_notices(client, admin)) == 1
    assert client.get(f"/v1/orders/{order_id}", headers=admin).json() == first
    assert stock(shop, "WEB", "P1") == (3, 0)


def test_shipping_without_details_leaves_them_empty(client: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    order_id = picking(client, admin)
    shipped = move(client, admin, order_id, status="shipped")
    assert shipped.status_code == 200 and shipped.json()["delivery"] is None
    [notice] = shipped_notices(client, admin)
    assert (notice["carrier"], notice["tracking_number"], notice["estimated_delivery"]) == (None, None, None)
    partial = picking(client, admin, store_id="S1")
    answer = move(client, admin, partial, status="shipped", tracking_number="T-9")
    assert answer.json()["delivery"] == {"carrier": None, "tracking_number": "T-9", "estimated_delivery": None}


def test_an_offset_is_converted_to_utc(client: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    order_id = picking(client, admin)
    shipped = move(client, admin, order_id, status="shipped", estimated_delivery="2099-12-10T01:30:00+02:00")
    assert shipped.json()["delivery"]["estimated_delivery"] == "2099-12-09T23:30:00Z"
    with Session(shop) as s:
        assert s.get(Order, order_id).estimated_delivery.isoformat() == "2099-12-09T23:30:00"  # type: ignore[union-attr]


def test_bad_details_are_422s_naming_the_field_and_write_nothing(client: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    order_id = picking(client, admin)
    before = client.get(f"/v1/orders/{order_id}", headers=admin).json()
    early = move(client, admin, order_id, status="shipped", **{**DETAILS, "estimated_delivery": "2000-01-01"})
    assert early.status_code == 422 and early.json()["detail"].startswith("estimated_delivery: 2000-01-01 is before")
    malformed: list[tuple[dict[str, Any], list[str]]] = [
        ({"status": "cancelled", "carrier": "DHL"}, ["body", "carrier"]),
        ({"status": "delivered", "tracking_number": "T1"}, ["body", "tracking_number"]),
        ({"status": "paid", "estimated_delivery": "2099-12-10"}, ["body", "estimated_delivery"]),
        ({"status": "shipped", "carrier": "x" * 65}, ["body", "carrier"]),
        ({"status": "shipped", "carrier": ""}, ["body", "carrier"]),
        ({"status": "shipped", "tracking_number": "T\n1"}, ["body", "tracking_number"]),
        ({"status": "shipped", "estimated_delivery": "soon"}, ["body", "estimated_delivery"]),
        ({"status": "shipped", "estimated_delivery": 4102444800}, ["body", "estimated_delivery"]),
        ({"status": "shipped", "courier": "DHL"}, ["body", "courier"]),
    ]
    for body, loc in malformed:
        answer = move(client, admin, order_id, **body)
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == loc, (body, answer.text)
    assert client.get(f"/v1/orders/{order_id}", headers=admin).json() == before  # still picking, no details
    assert shipped_notices(client, admin) == [] and stock(shop, "WEB", "P1") == (5, 2)


def test_a_pickup_order_cannot_ship_with_details(client: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    order_id = picking(client, admin, fulfilment="pickup", store_id="S1")
    refused = move(client, admin, order_id, status="shipped", **DETAILS)
    assert refused.status_code == 409 and "ready_for_pickup" in refused.json()["detail"]
    assert client.get(f"/v1/orders/{order_id}", headers=admin).json()["delivery"] is None


def test_a_store_key_ships_its_own_orders_only(client: TestClient, shop: Engine) -> None:
    admin, s1, s2 = key(shop, "admin"), key(shop, "store", store_id="S1"), key(shop, "store", store_id="S2")
    order_id = picking(client, admin, store_id="S1")
    assert move(client, s2, order_id, status="shipped", **DETAILS).status_code == 403
    assert move(client, key(shop, "sales_rep"), order_id, status="shipped", **DETAILS).status_code == 403
    assert move(client, s1, order_id, status="shipped", **DETAILS).json()["delivery"]["carrier"] == "DHL"


def test_the_status_route_documents_its_answers(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    route = spec["paths"]["/v1/orders/{order_id}/status"]["post"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(route["responses"])
    body = spec["components"]["schemas"]["StatusIn"]["properties"]
    assert {"carrier", "tracking_number", "estimated_delivery"} <= set(body)
