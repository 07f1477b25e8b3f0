"""The /v1 order API over HTTP (in process): status codes, roles, error bodies naming the field, no traces."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from shopdata import key, order_body, stock, stock_shop
from sqlalchemy import Engine

from retail.db import connect
from serving import auth


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    auth.forget()
    yield stock_shop(connect(db_url))
    auth.forget()


def place(client: TestClient, headers: dict[str, str], idem: str = "k1", **kwargs: object):  # type: ignore[no-untyped-def]
    return client.post("/v1/orders", json=order_body(**kwargs), headers=headers | {"Idempotency-Key": idem})


def clean(response) -> None:  # type: ignore[no-untyped-def]
    assert "Traceback" not in response.text and 'File "' not in response.text, response.text


def test_place_read_move_and_return_through_http(client: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    created = place(client, admin, lines=[("P1", 2)])
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["total"] == 20.0 and order["lines"][0]["unit_price"] == 10.0 and order["status"] == "placed"
    replay = place(client, admin, lines=[("P1", 2)])
    assert replay.status_code == 201 and replay.json() == order and replay.headers["Idempotent-Replayed"] == "true"
    reused = place(client, admin, lines=[("P1", 1)])
    assert reused.status_code == 409 and "Idempotency-Key 'k1'" in reused.json()["detail"]
    for status in ("paid", "picking", "shipped", "delivered"):
        moved = client.post(f"/v1/orders/{order['order_id']}/status", json={"status": status}, headers=admin)
        assert moved.status_code == 200 and moved.json()["status"] == status
    read = client.get(f"/v1/orders/{order['order_id']}", headers=admin).json()
    assert [h["status"] for h in read["history"]] == ["placed", "paid", "picking", "shipped", "delivered"]
    back = client.post(
        f"/v1/orders/{order['order_id']}/returns",
        json={"store_id": "S1", "lines": [{"product_id": "P1", "quantity": 1}]},
        headers=admin | {"Idempotency-Key": "r1"},
    )
    assert back.status_code == 201 and back.json()["refund"] == 10.0
    assert client.get("/v1/customers/C1/orders", headers=admin).json()[0]["order_id"] == order["order_id"]
    kinds = [n["kind"] for n in client.get("/v1/customers/C1/notifications", headers=admin).json()]
    assert kinds[0] == "order.returned" and kinds.count("order.status_changed") == 5
    availability = client.get("/v1/products/P1/availability", headers=admin).json()
    assert availability["online"] == {"on_hand": 3, "reserved": 0, "available": 3}
    report = client.get("/v1/reports/sales", params={"from": "2000-01-01", "to": "2100-01-01"}, headers=admin)
    assert report.status_code == 200 and report.json()["total"]["revenue"] == 20.0 and report.json()["from"]


def test_errors_name_the_field_and_write_nothing(client: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    cases = [
        (order_body(lines=[("P9", 1)]), 422, "lines[0].product_id: unknown product 'P9'"),
        (order_body(customer_id="C9"), 422, "customer_id: unknown customer 'C9'"),
        (order_body(store_id="S9"), 422, "store_id: unknown store 'S9'"),
        (order_body(lines=[("P1", 6)]), 409, "lines[0].quantity: product 'P1' has 5 available"),
    ]
    for i, (body, code, detail) in enumerate(cases):
        answer = client.post("/v1/orders", json=body, headers=admin | {"Idempotency-Key": f"e{i}"})
        assert answer.status_code == code and detail in answer.json()["detail"], answer.text
    malformed = [
        ({**order_body(), "lines": [{"product_id": "P1", "quantity": 0}]}, ["body", "lines", 0, "quantity"]),
        ({**order_body(), "lines": [{"product_id": "P1", "quantity": -2}]}, ["body", "lines", 0, "quantity"]),
        ({**order_body(), "colour": "red"}, ["body", "colour"]),
        ({**order_body(), "channel": "fax"}, ["body", "channel"]),
        ({**order_body(), "lines": []}, ["body", "lines"]),
        ({**order_body(), "store_id": "S\x001"}, ["body", "store_id"]),
    ]
    for body, loc in malformed:
        answer = client.post("/v1/orders", json=body, headers=admin | {"Idempotency-Key": "m"})
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == loc, answer.text
    no_key = client.post("/v1/orders", json=order_body(), headers=admin)
    assert no_key.status_code == 422 and no_key.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    bad_json = client.post(
        "/v1/orders",
        content=b'{"lines": [',
        headers=admin | {"Idempotency-Key": "j", "Content-Type": "application/json"},
    )
    assert bad_json.status_code == 422 and bad_json.json()["detail"][0]["type"] == "json_invalid"
    assert stock(shop, "WEB", "P1") == (5, 0)
    assert client.get("/v1/customers/C1/orders", headers=admin).json() == []
    assert client.get("/v1/orders/nope", headers=admin).status_code == 404
    assert client.post("/v1/orders/nope/status", json={"status": "paid"}, headers=admin).status_code == 404
    assert client.post("/v1/orders/x/status", json={"status": "lost"}, headers=admin).status_code == 422
    assert client.get("/v1/products/P9/availability", headers=admin).status_code == 404
    assert client.get("/v1/customers/C9/orders", headers=admin).status_code == 404
    assert client.get("/v1/reports/sales", params={"from": "2026-02-01", "to": "2026-01-01"}, headers=admin).json() == {
        "detail": "to: 2026-01-01 is before from: 2026-02-01"
    }
    assert client.get("/v1/reports/sales", params={"from": "x", "to": "2026-01-01"}, headers=admin).status_code == 422
    order = place(client, admin, "ok").json()
    illegal = client.post(f"/v1/orders/{order['order_id']}/status", json={"status": "shipped"}, headers=admin)
    assert illegal.status_code == 409 and "is placed (ship); it can move to paid, cancelled" in illegal.json()["detail"]


def test_roles_customers_and_stores(client: TestClient, shop: Engine) -> None:
    admin, app_key = key(shop, "admin"), key(shop, "app")
    c1, c2 = key(shop, "customer", customer_id="C1"), key(shop, "customer", customer_id="C2")
    s1, s2 = key(shop, "store", store_id="S1"), key(shop, "store", store_id="S2")
    planner, rep = key(shop, "planner"), key(shop, "sales_rep")
    assert place(client, {}, "a").status_code == 401
    assert place(client, {"Authorization": "Bearer rk_nonsense_key"}, "a").status_code == 401
    assert place(client, app_key, "a").status_code == 403
    assert place(client, planner, "a").status_code == 403
    assert place(client, c2, "a").status_code == 403, "C2 may not order for C1"
    assert place(client, c1, "a", customer_id=None).status_code == 403, "a customer key places no guest orders"
    assert place(client, s2, "a", store_id="S1", fulfilment="in_store").status_code == 403
    mine = place(client, c1, "a").json()["order_id"]
    at_s1 = place(client, s1, "b", store_id="S1", fulfilment="in_store", customer_id=None).json()["order_id"]
    assert client.get(f"/v1/orders/{mine}", headers=c1).status_code == 200
    assert client.get(f"/v1/orders/{mine}", headers=c2).status_code == 403
    assert client.get(f"/v1/orders/{at_s1}", headers=c1).status_code == 403, "a guest order is no customer's"
    assert client.get(f"/v1/orders/{at_s1}", headers=s1).status_code == 200
    assert client.get(f"/v1/orders/{mine}", headers=s1).status_code == 403, "another store's order"
    assert client.get(f"/v1/orders/{mine}", headers=app_key).status_code == 403
    assert client.get("/v1/customers/C1/orders", headers=c2).status_code == 403
    assert client.get("/v1/customers/C1/notifications", headers=c1).status_code == 200
    assert client.get("/v1/customers/C1/notifications", headers=s1).status_code == 403
    assert client.post(f"/v1/orders/{mine}/status", json={"status": "paid"}, headers=c1).status_code == 403
    assert client.post(f"/v1/orders/{mine}/status", json={"status": "paid"}, headers=rep).status_code == 403
    assert client.post(f"/v1/orders/{mine}/status", json={"status": "paid"}, headers=s1).status_code == 403
    assert client.post(f"/v1/orders/{mine}/status", json={"status": "cancelled"}, headers=c2).status_code == 403
    assert client.post(f"/v1/orders/{mine}/status", json={"status": "cancelled"}, headers=c1).status_code == 200
    for status in ("paid", "picking", "ready_for_pickup", "picked_up"):
        assert client.post(f"/v1/orders/{at_s1}/status", json={"status": status}, headers=s1).status_code == 200
    give = {"store_id": "S1", "lines": [{"product_id": "P1", "quantity": 1}]}
    once = {"Idempotency-Key": "r1"}
    assert client.post(f"/v1/orders/{at_s1}/returns", json=give, headers=s2 | once).status_code == 403
    assert client.post(f"/v1/orders/{at_s1}/returns", json=give, headers=c1 | once).status_code == 403
    assert client.post(f"/v1/orders/{at_s1}/returns", json=give, headers=s1 | once).status_code == 201
    assert client.get("/v1/products/P1/availability", headers=c1).status_code == 200
    assert client.get("/v1/products/P1/availability", headers=app_key).status_code == 403
    report = {"from": "2026-01-01", "to": "2026-01-02"}
    assert client.get("/v1/reports/sales", params=report, headers=planner).status_code == 200
    assert client.get("/v1/reports/sales", params=report, headers=s1).status_code == 403
    assert client.get("/v1/reports/sales", params=report, headers=admin).status_code == 200


def test_every_answered_status_is_documented(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            codes = set(operation["responses"])
            assert {"401", "403", "422"} <= codes, (method, path, codes)
            if "{" in path:
                assert "404" in codes, (method, path)
    assert "409" in spec["paths"]["/v1/orders"]["post"]["responses"]


def test_idempotency_keys_belong_to_the_caller(client: TestClient, shop: Engine) -> None:
    """Another caller's key is neither occupied (their request is a new order) nor disclosed (no 409)."""
    admin, other = key(shop, "admin"), key(shop, "admin")
    c1, c1_phone = key(shop, "customer", customer_id="C1"), key(shop, "customer", customer_id="C1")
    s1 = key(shop, "store", store_id="S1")
    mine = place(client, admin, "shared", lines=[("P1", 1)])
    theirs = place(client, other, "shared", lines=[("P2", 1)])
    assert (mine.status_code, theirs.status_code) == (201, 201), theirs.text
    assert theirs.json()["order_id"] != mine.json()["order_id"] and "Idempotent-Replayed" not in theirs.headers
    probe = place(client, s1, "shared", store_id="S1", fulfilment="in_store", customer_id=None)
    assert probe.status_code == 201 and probe.json()["order_id"] != mine.json()["order_id"]
    first = place(client, c1, "c", lines=[("P2", 2)])
    again = place(client, c1_phone, "c", lines=[("P2", 2)])
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json(), "one customer, one scope"
    assert place(client, c1_phone, "c", lines=[("P2", 3)]).status_code == 409


def test_a_retried_return_is_recorded_once(client: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    order = place(client, admin, lines=[("P1", 2)]).json()
    for status in ("paid", "picking", "shipped", "delivered"):
        client.post(f"/v1/orders/{order['order_id']}/status", json={"status": status}, headers=admin)
    url = f"/v1/orders/{order['order_id']}/returns"
    give = {"store_id": "S1", "lines": [{"product_id": "P1", "quantity": 1}]}
    first = client.post(url, json=give, headers=admin | {"Idempotency-Key": "back-1"})
    retry = client.post(url, json=give, headers=admin | {"Idempotency-Key": "back-1"})
    assert (first.status_code, retry.status_code) == (201, 201) and retry.json() == first.json(), retry.text
    assert retry.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert stock(shop, "S1", "P1") == (3, 0), "restocked once"
    other = client.post(url, json=give | {"store_id": "WEB"}, headers=admin | {"Idempotency-Key": "back-1"})
    assert other.status_code == 409 and "Idempotency-Key 'back-1'" in other.json()["detail"]
    assert client.get(f"/v1/orders/{order['order_id']}", headers=admin).json()["lines"][0]["returned_quantity"] == 1
    kinds = [n["kind"] for n in client.get("/v1/customers/C1/notifications", headers=admin).json()]
    assert kinds.count("order.returned") == 1
    missing = client.post(url, json=give, headers=admin)
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    clean(missing)
