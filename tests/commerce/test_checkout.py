"""Checkout of a cart with personal offers and points, and offers on POST /v1/orders: one code path.

Carts and offers are planted as rows (the cart and offer APIs are tested beside their own modules).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from threading import Barrier
from typing import Any

import pytest
from fastapi.testclient import TestClient
from offerdata import plant_cart, plant_offer
from shopdata import PRICES, key, order_body, stock, stock_shop
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retail import db
from retail.db import connect
from serving import auth
from serving.commerce import checkout, events, loyalty
from serving.commerce.checks import violations
from serving.commerce.errors import Conflict
from serving.commerce.offer_redemption import discount_cents
from serving.commerce.payloads import MAX_OFFERS_PER_ORDER
from serving.commerce.tables import Cart, LoyaltyAccount, Order, PersonalOffer


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    auth.forget()
    yield stock_shop(connect(db_url))
    auth.forget()


def grant(engine: Engine, customer: str, points: int) -> None:
    at = events.now()
    with Session(engine) as s, s.begin():
        assert loyalty.post(s, customer, points, "earn", "issued", at, expires_at=loyalty.add_months(at, 12))


def check_out(client: TestClient, headers: dict[str, str], cart_id: str, idem: str = "k1", **body: Any) -> Any:
    payload = {"fulfilment": "ship", "store_id": "WEB"} | body
    return client.post(f"/v1/carts/{cart_id}/checkout", json=payload, headers=headers | {"Idempotency-Key": idem})


def state(engine: Engine, cart_id: str | None = None) -> dict[str, Any]:
    """Everything a refused checkout must leave as it was."""
    with Session(db.reader(engine)) as s:
        offers = {o.code: (o.redeemed_order_id, o.redeemed_cents) for o in s.scalars(select(PersonalOffer))}
        cart = s.get(Cart, cart_id) if cart_id else None
        return {
            "orders": s.scalar(select(func.count()).select_from(Order)),
            "offers": offers,
            "points": dict(s.execute(select(LoyaltyAccount.customer_id, LoyaltyAccount.balance)).all()),
            "stock": [stock(engine, st, p) for st in ("WEB", "S1") for p in ("P1", "P2")],
            "cart": None if cart is None else (cart.version, [(x.product_id, x.quantity) for x in cart.lines]),
        }


def expected_offer(product: str, quantity: int, pct: float, cap: int) -> int:
    return min(math.floor(Decimal(PRICES[product] * quantity) * Decimal(str(pct)) / 100), cap)


def test_the_offer_discount_is_rounded_down_and_capped() -> None:
    assert discount_cents(999, 12.5, 10_000) == 124  # 124.875 rounds down
    assert discount_cents(250, 33.3, 10_000) == 83  # 83.25
    assert discount_cents(100, 29.0, 10_000) == 29  # 29 exactly: no binary-float 28.999...
    assert discount_cents(2000, 15, 250) == 250  # the cap
    assert discount_cents(1, 90, 5) == 0


def test_checkout_redeems_offers_then_points_and_empties_the_cart(client: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    grant(shop, "C1", 100)
    plant_offer(shop, "OFFERP1", product="P1", pct=15, cap=250)
    plant_offer(shop, "OFFERP2", product="P2", pct=33.3, cap=1000)
    cart_id = plant_cart(shop, lines=[("P1", 2), ("P2", 1)])
    answer = check_out(client, admin, cart_id, offer_codes=["OFFERP2", "OFFERP1"], redeem_points=100)
    assert answer.status_code == 201, answer.text
    order = answer.json()
    lines = 2 * PRICES["P1"] + PRICES["P2"]
    offers = expected_offer("P1", 2, 15, 250) + expected_offer("P2", 1, 33.3, 1000)
    assert offers < 250 + 1000, "the cap of P1's offer applies"
    assert order["offer_discount"] == offers / 100 and order["discount"] == 1.0 and order["points_redeemed"] == 100
    assert order["total"] == (lines - offers - 100) / 100
    assert order["offer_codes"] == ["OFFERP1", "OFFERP2"] and order["cart_id"] == cart_id
    assert order["channel"] == "mobile" and answer.headers["Location"] == f"/v1/orders/{order['order_id']}"
    after = state(shop, cart_id)
    assert after["cart"] == (2, []) and after["orders"] == 1 and after["points"]["C1"] == 0
    assert after["offers"] == {
        "OFFERP1": (order["order_id"], expected_offer("P1", 2, 15, 250)),
        "OFFERP2": (order["order_id"], expected_offer("P2", 1, 33.3, 1000)),
    }
    assert stock(shop, "WEB", "P1") == (5, 2)
    again = check_out(client, admin, cart_id, offer_codes=["OFFERP2", "OFFERP1"], redeem_points=100)
    assert again.status_code == 201 and again.json() == order and again.headers["Idempotent-Replayed"] == "true"
    other = check_out(client, admin, cart_id, offer_codes=["OFFERP1"])
    assert other.status_code == 409 and "Idempotency-Key 'k1'" in other.json()["detail"]
    read = client.get(f"/v1/orders/{order['order_id']}", headers=admin).json()
    assert read["offer_codes"] == order["offer_codes"] and read["offer_discount"] == order["offer_discount"]
    listed = client.get("/v1/customers/C1/orders", headers=admin).json()
    assert listed[0]["offer_codes"] == order["offer_codes"]
    cancelled = client.post(f"/v1/orders/{order['order_id']}/status", json={"status": "cancelled"}, headers=admin)
    assert cancelled.status_code == 200 and cancelled.json()["offer_codes"] == order["offer_codes"]
    assert state(shop)["offers"] == after["offers"], "a cancelled order keeps its offers: they are not given back"
    assert state(shop)["points"]["C1"] == 100, "its points come back"
    assert violations(shop) == []


def test_post_orders_redeems_offers_through_the_same_path(client: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    plant_offer(shop, "OFFERP1", product="P1", pct=20, cap=10_000)
    body = order_body(lines=[("P1", 1), ("P2", 2)]) | {"offer_codes": ["OFFERP1"]}
    answer = client.post("/v1/orders", json=body, headers=admin | {"Idempotency-Key": "o1"})
    assert answer.status_code == 201, answer.text
    order = answer.json()
    off = expected_offer("P1", 1, 20, 10_000)
    assert order["offer_codes"] == ["OFFERP1"] and order["offer_discount"] == off / 100 and order["cart_id"] is None
    assert order["total"] == (PRICES["P1"] + 2 * PRICES["P2"] - off) / 100
    for status in ("paid", "picking", "shipped", "delivered"):
        client.post(f"/v1/orders/{order['order_id']}/status", json={"status": status}, headers=admin)
    returned = client.post(
        f"/v1/orders/{order['order_id']}/returns",
        json={"store_id": "WEB", "lines": [{"product_id": "P1", "quantity": 1}, {"product_id": "P2", "quantity": 2}]},
        headers=admin | {"Idempotency-Key": "r1"},
    )
    assert returned.status_code == 201 and returned.json()["refund"] == order["total"], "refunds what was paid"
    too_many = order_body() | {"offer_codes": [f"X{i}" for i in range(MAX_OFFERS_PER_ORDER + 1)]}
    refused = client.post("/v1/orders", json=too_many, headers=admin | {"Idempotency-Key": "o2"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "offer_codes"]
    guest = order_body(customer_id=None) | {"offer_codes": ["OFFERP1"]}
    refused = client.post("/v1/orders", json=guest, headers=admin | {"Idempotency-Key": "o3"})
    assert refused.status_code == 422 and refused.json()["detail"].startswith("offer_codes: a guest order")
    assert violations(shop) == []


REFUSALS = [  # (codes, planted offers, status, words of the detail)
    (["OLD"], [("OLD", "C1", "P1", -1)], 409, "offer_codes[0]: offer OLD expired at"),
    (["THEIRS"], [("THEIRS", "C2", "P1", 7)], 409, "offer_codes[0]: offer THEIRS cannot be used by this customer"),
    (["NOSUCH"], [], 409, "offer_codes[0]: offer NOSUCH cannot be used by this customer"),
    (["OK", "ELSE"], [("OK", "C1", "P1", 7), ("ELSE", "C1", "P3", 7)], 409, "offer ELSE is for product 'P3'"),
    (["OK", "TWIN"], [("OK", "C1", "P1", 7), ("TWIN", "C1", "P1", 7)], 409, "offer TWIN is for product 'P1'"),
    (["OK", "OK"], [("OK", "C1", "P1", 7)], 422, "offer_codes[1]: offer OK is given twice"),
]


@pytest.mark.parametrize("route", ["checkout", "orders"])
def test_a_refused_offer_names_the_code_and_writes_nothing(client: TestClient, shop: Engine, route: str) -> None:
    admin = key(shop, "admin")
    grant(shop, "C1", 50)
    plant_offer(shop, "USED", product="P2")
    used = client.post(
        "/v1/orders",
        json=order_body(lines=[("P2", 1)]) | {"offer_codes": ["USED"]},
        headers=admin | {"Idempotency-Key": "u"},
    )
    assert used.status_code == 201, used.text
    refusals = [*REFUSALS, (["USED"], [], 409, "offer_codes[0]: offer USED was already used")]
    for i, (codes, planted, status, words) in enumerate(refusals):
        for code, customer, product, days in planted:
            if code not in state(shop)["offers"]:
                plant_offer(shop, code, customer=customer, product=product, days=days)
        cart_id = plant_cart(shop, lines=[("P1", 1), ("P2", 1)])
        before = state(shop, cart_id)
        if route == "checkout":
            answer = check_out(client, admin, cart_id, f"k{i}", offer_codes=codes, redeem_points=50)
        else:
            body = order_body(lines=[("P1", 1), ("P2", 1)]) | {"offer_codes": codes, "redeem_points": 50}
            answer = client.post("/v1/orders", json=body, headers=admin | {"Idempotency-Key": f"k{i}"})
        assert answer.status_code == status and words in answer.json()["detail"], (codes, answer.text)
        assert state(shop, cart_id) == before, f"{codes}: a refused checkout wrote something"
    too_many = [f"X{i}" for i in range(MAX_OFFERS_PER_ORDER + 1)]
    cart_id = plant_cart(shop)
    answer = check_out(client, admin, cart_id, "many", offer_codes=too_many)
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "offer_codes"]
    assert violations(shop) == []


def test_a_guest_cart_redeems_neither_points_nor_offers(client: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    plant_offer(shop, "OFFERP1")
    cart_id = plant_cart(shop, customer=None)
    before = state(shop, cart_id)
    for field, body in (("offer_codes", {"offer_codes": ["OFFERP1"]}), ("redeem_points", {"redeem_points": 5})):
        answer = check_out(client, admin, cart_id, field, **body)
        assert answer.status_code == 422 and answer.json()["detail"].startswith(f"{field}: a guest cart"), answer.text
    assert state(shop, cart_id) == before
    answer = check_out(client, admin, cart_id, "guest")
    assert answer.status_code == 201 and answer.json()["customer_id"] is None and answer.json()["offer_codes"] == []


def test_a_changed_price_is_shown_then_accepted_by_checking_out_again(client: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    cart_id = plant_cart(shop, lines=[("P1", 1), ("P2", 3)], seen=-50)  # both seen 0.50 cheaper
    refused = check_out(client, admin, cart_id)
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["detail"].startswith("cart: prices changed") and "P1 9.50 -> 10.00" in problem["detail"]
    assert problem["changes"] == [
        {"product_id": p, "seen": (PRICES[p] - 50) / 100, "now": PRICES[p] / 100} for p in ("P1", "P2")
    ]
    shown = problem["cart"]
    assert shown["version"] == 2 and [x["unit_price"] for x in shown["lines"]] == [
        PRICES[p] / 100 for p in ("P1", "P2")
    ]
    with Session(db.reader(shop)) as s:
        cart = s.get(Cart, cart_id)
        assert cart is not None and cart.version == 2
        assert {x.product_id: x.unit_price_cents for x in cart.lines} == {p: PRICES[p] for p in ("P1", "P2")}
        assert s.scalar(select(func.count()).select_from(Order)) == 0
    assert stock(shop, "WEB", "P1") == (5, 0)
    accepted = check_out(client, admin, cart_id)  # the same key: nothing was made with it
    assert accepted.status_code == 201 and accepted.json()["total"] == (PRICES["P1"] + 3 * PRICES["P2"]) / 100


def test_refusals_of_the_cart_itself(client: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    assert check_out(client, admin, "nosuchcart").status_code == 404
    cart_id = plant_cart(shop, lines=[("P1", 6)])  # 5 at WEB
    before = state(shop, cart_id)
    short = check_out(client, admin, cart_id, "short")
    assert short.status_code == 409 and "lines[0].quantity: product 'P1' has 5 available" in short.json()["detail"]
    assert state(shop, cart_id) == before
    stale = client.post(
        f"/v1/carts/{cart_id}/checkout",
        json={"fulfilment": "ship", "store_id": "WEB"},
        headers=admin | {"Idempotency-Key": "stale", "If-Match": 'W/"7"'},
    )
    assert stale.status_code == 409 and stale.json()["detail"].startswith("If-Match: cart is at version 1, not 7")
    assert stale.json()["cart"]["cart_id"] == cart_id and stale.json()["cart"]["version"] == 1
    empty = plant_cart(shop, lines=[("P1", 1)])
    assert check_out(client, admin, empty, "first").status_code == 201
    again = check_out(client, admin, empty, "second")
    assert again.status_code == 409 and again.json()["detail"].startswith("cart: cart"), again.text
    unknown_store = check_out(client, admin, plant_cart(shop), "store", store_id="S9")
    assert unknown_store.status_code == 422 and "store_id: unknown store 'S9'" in unknown_store.json()["detail"]


def test_who_may_check_out_which_cart(client: TestClient, shop: Engine) -> None:
    mine, guest = plant_cart(shop, lines=[("P2", 1)]), plant_cart(shop, customer=None, lines=[("P2", 1)])
    c1, c2 = key(shop, "customer", customer_id="C1"), key(shop, "customer", customer_id="C2")
    s1 = key(shop, "store", store_id="S1")
    assert check_out(client, c2, mine).status_code == 403
    assert check_out(client, c1, guest).status_code == 403
    assert check_out(client, key(shop, "app"), mine).status_code == 403
    assert check_out(client, key(shop, "planner"), mine).status_code == 403
    assert check_out(client, s1, mine, store_id="WEB").status_code == 403
    assert check_out(client, {}, mine).status_code == 401
    assert state(shop)["orders"] == 0
    assert check_out(client, s1, guest, store_id="S1", fulfilment="in_store").status_code == 201
    answer = check_out(client, c1, mine)
    assert answer.status_code == 201 and answer.json()["customer_id"] == "C1"


def test_two_checkouts_of_one_cart_make_one_order(shop: Engine) -> None:
    cart_id = plant_cart(shop, lines=[("P1", 1), ("P2", 2)])
    body = checkout.CheckoutIn.model_validate({"fulfilment": "ship", "store_id": "WEB"})
    gate = Barrier(2)

    def attempt(idem: str) -> str:
        gate.wait()
        try:
            order, created = checkout.checkout(shop, cart_id, idem, body, scope="key:1")
        except Conflict as refused:
            return refused.message
        assert created
        return order.order_id

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(attempt, ["a", "b"]))
    refused = [a for a in answers if a.startswith("cart: ")]
    assert len(refused) == 1 and "is empty" in refused[0], answers
    after = state(shop, cart_id)
    assert after["orders"] == 1 and after["cart"] == (2, [])
    assert stock(shop, "WEB", "P1") == (5, 1) and stock(shop, "WEB", "P2") == (20, 2)
    assert violations(shop) == []
