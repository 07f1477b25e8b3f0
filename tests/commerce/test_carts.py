"""The cart API over HTTP and its domain under threads, on SQLite and PostgreSQL: one cart per customer, guest
carts and their merge, lines at the price seen, optimistic versions (If-Match / ETag), roles and ownership."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shopdata import T0, key, stock_shop
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retail.db import connect
from serving import auth
from serving.commerce import cart_merge, carts
from serving.commerce.cart_payloads import MAX_LINES, CartIn, CartLineIn
from serving.commerce.tables import Cart, CartLine, Product


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    """C1 and C2; stores WEB (online), S1 and S2; P1 10.00 (5 online, 2 at S1), P2 2.50, P3 19.99 (1 at S2)."""
    auth.forget()
    yield stock_shop(connect(db_url))
    auth.forget()


@pytest.fixture
def admin(shop: Engine) -> dict[str, str]:
    return key(shop, "admin")


def line(client: TestClient, headers: dict[str, str], cart_id: str, version: Any, product_id: str, qty: int) -> Any:
    """POST a line with `If-Match: "<version>"` (the version as given when it is a string)."""
    match = version if isinstance(version, str) else f'"{version}"'
    body = {"product_id": product_id, "quantity": qty}
    return client.post(f"/v1/carts/{cart_id}/lines", json=body, headers={**headers, "If-Match": match})


def ok(answer: Any, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert answer.headers["ETag"] == f'"{body["version"]}"'
    return body


def quantities(cart: dict[str, Any]) -> dict[str, int]:
    return {x["product_id"]: x["quantity"] for x in cart["lines"]}


def set_price(engine: Engine, product_id: str, cents: int) -> None:
    with Session(engine) as s, s.begin():
        product = s.get(Product, product_id)
        assert product is not None
        product.price_cents = cents


def at_once(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread, released together; each result or the exception it raised."""
    gate = Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        gate.wait()
        try:
            return call()
        except Exception as exc:  # the outcome under test
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_one_cart_per_customer_whatever_the_channel(client: TestClient, shop: Engine, admin: dict[str, str]) -> None:
    first = ok(client.get("/v1/customers/C1/cart?store_id=S1&channel=web", headers=admin))
    assert first["customer_id"] == "C1" and first["store_id"] == "S1" and first["channel"] == "web"
    assert first["version"] == 1 and first["lines"] == [] and len(first["cart_id"]) >= 24
    from_app = ok(client.get("/v1/customers/C1/cart?store_id=S2", headers=key(shop, "customer", customer_id="C1")))
    from_store = ok(client.get("/v1/customers/C1/cart", headers=key(shop, "store", store_id="S2")))
    assert from_app["cart_id"] == from_store["cart_id"] == first["cart_id"]
    assert from_store["store_id"] == "S1"  # the query sets the store only when the cart is made
    assert client.get("/v1/customers/C9/cart", headers=admin).status_code == 404
    refused = client.get("/v1/customers/C2/cart?store_id=NOPE", headers=admin)
    assert refused.status_code == 422 and "store_id" in refused.json()["detail"] and "NOPE" in refused.json()["detail"]
    with Session(shop) as s:
        assert s.scalar(select(func.count()).select_from(Cart)) == 1  # the refused one made nothing


def test_concurrent_first_gets_make_one_cart(shop: Engine) -> None:
    results = at_once([lambda: carts.customer_cart(shop, "C2", None, "web") for _ in range(4)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({cart.cart_id for cart, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, True]
    with Session(shop) as s:
        assert s.scalar(select(func.count()).select_from(Cart).where(Cart.customer_id == "C2")) == 1


def test_lines_are_set_changed_and_removed_each_with_a_new_version(
    client: TestClient, shop: Engine, admin: dict[str, str]
) -> None:
    cart_id = ok(client.get("/v1/customers/C1/cart", headers=admin))["cart_id"]
    cart = ok(line(client, admin, cart_id, 1, "P1", 2))
    assert cart["version"] == 2 and cart["lines"][0]["unit_price"] == 10.0 and cart["lines"][0]["line_total"] == 20.0
    assert cart["lines"][0]["name"] == "product P1" and cart["lines"][0]["available"] == 5  # online: WEB's stock
    cart = ok(line(client, admin, cart_id, "2", "P1", 3))  # bare version; quantity is set, not added
    cart = ok(line(client, admin, cart_id, 'W/"3"', "P2", 4))  # weak ETag form
    assert cart["version"] == 4 and quantities(cart) == {"P1": 3, "P2": 4}
    assert cart["items"] == 7 and cart["subtotal"] == 40.0 and cart["changes"] == []
    removed = client.delete(f"/v1/carts/{cart_id}/lines/P1?channel=mobile", headers={**admin, "If-Match": '"4"'})
    cart = ok(removed)
    assert cart["version"] == 5 and quantities(cart) == {"P2": 4} and cart["channel"] == "mobile"
    missing = client.delete(f"/v1/carts/{cart_id}/lines/P1", headers={**admin, "If-Match": '"5"'})
    assert missing.status_code == 404 and "P1" in missing.json()["detail"]
    assert ok(client.get(f"/v1/carts/{cart_id}", headers=admin))["version"] == 5  # the refused delete changed nothing
    place = {"store_id": "S1", "channel": "store"}
    cart = ok(client.put(f"/v1/carts/{cart_id}", json=place, headers={**admin, "If-Match": "5"}))
    assert cart["store_id"] == "S1" and cart["channel"] == "store" and cart["lines"][0]["available"] == 10


def test_lines_keep_the_price_seen_and_show_changes_of_price_and_stock(
    client: TestClient, shop: Engine, admin: dict[str, str]
) -> None:
    cart_id = ok(client.get("/v1/customers/C1/cart", headers=admin))["cart_id"]
    ok(line(client, admin, cart_id, 1, "P1", 2))
    set_price(shop, "P1", 1250)
    cart = ok(client.get(f"/v1/carts/{cart_id}", headers=admin))
    assert (cart["lines"][0]["unit_price"], cart["lines"][0]["current_price"]) == (10.0, 12.5)
    assert cart["subtotal"] == 20.0 and cart["current_subtotal"] == 25.0
    assert [(c["product_id"], c["kind"], c["unit_price"], c["current_price"]) for c in cart["changes"]] == [
        ("P1", "price", 10.0, 12.5)
    ]
    cart = ok(line(client, admin, cart_id, 2, "P1", 6))  # more than the 5 online; the price seen stays
    assert cart["lines"][0]["unit_price"] == 10.0
    assert sorted((c["kind"], c["available"]) for c in cart["changes"]) == [("price", 5), ("stock", 5)]
    assert "6 in the cart, 5 available online" in next(c for c in cart["changes"] if c["kind"] == "stock")["detail"]


def test_a_stale_version_is_a_409_with_the_current_cart_and_no_line_is_lost(
    client: TestClient, shop: Engine, admin: dict[str, str]
) -> None:
    """The web shop and the app both hold version 1; the web adds P1 first, the app's P2 is refused, then added."""
    cart_id = ok(client.get("/v1/customers/C1/cart", headers=admin))["cart_id"]
    web, app = key(shop, "customer", customer_id="C1"), key(shop, "app")
    ok(line(client, web, cart_id, 1, "P1", 1))
    stale = line(client, app, cart_id, 1, "P2", 1)
    assert stale.status_code == 409 and stale.headers["ETag"] == '"2"'
    body = stale.json()
    assert "version 2, not 1" in body["detail"]
    assert body["cart"]["version"] == 2 and quantities(body["cart"]) == {"P1": 1}
    cart = ok(line(client, app, cart_id, body["cart"]["version"], "P2", 1))
    assert quantities(cart) == {"P1": 1, "P2": 1} and cart["version"] == 3


def test_concurrent_writers_at_one_version_exactly_one_wins(shop: Engine) -> None:
    cart, _ = carts.customer_cart(shop, "C1")
    for version, products in ((1, ("P1", "P2", "P3")), (2, ("P2", "P3")), (3, ("P3", "P1"))):
        bodies = [CartLineIn.model_validate({"product_id": p, "quantity": 1}) for p in products]
        calls = [lambda b=b, v=version: carts.set_line(shop, cart.cart_id, v, b) for b in bodies]
        results = at_once(calls)
        won = [r for r in results if not isinstance(r, Exception)]
        lost = [r for r in results if isinstance(r, carts.Stale)]
        assert len(won) == 1 and len(lost) == len(bodies) - 1, results
        assert won[0].version == version + 1
        for refused in lost:  # each loser is shown the winner's cart
            assert refused.current.version == version + 1
            assert {x.product_id for x in refused.current.lines} == {x.product_id for x in won[0].lines}
    with Session(shop) as s:
        stored = s.get(Cart, cart.cart_id)
        assert stored is not None and stored.version == 4
        assert len(stored.lines) == len({x.product_id for x in won[0].lines})  # every won line is there


def test_a_merge_racing_an_edit_or_its_own_retry_loses_no_line(shop: Engine) -> None:
    mine, _ = carts.customer_cart(shop, "C1")
    guests = []
    for product_id in ("P1", "P2"):
        guest = carts.create_guest(shop, CartIn.model_validate({}))
        carts.set_line(shop, guest.cart_id, 1, CartLineIn.model_validate({"product_id": product_id, "quantity": 2}))
        guests.append(guest.cart_id)
    edit = CartLineIn.model_validate({"product_id": "P3", "quantity": 1})
    merged, edited = at_once(
        [lambda: cart_merge.merge(shop, guests[0], "C1"), lambda: carts.set_line(shop, mine.cart_id, 1, edit)]
    )
    assert not isinstance(merged, Exception), merged
    assert isinstance(edited, carts.Stale) or not isinstance(edited, Exception), edited
    final = carts.get_cart(shop, mine.cart_id)
    expected = {"P1": 2} | ({} if isinstance(edited, carts.Stale) else {"P3": 1})
    assert {x.product_id: x.quantity for x in final.lines} == expected  # the merge's lines and the edit's, if it won
    twice = at_once([lambda: cart_merge.merge(shop, guests[1], "C1") for _ in range(3)])  # a sign-in sent 3 times
    assert not [r for r in twice if isinstance(r, Exception)], twice
    final = carts.get_cart(shop, mine.cart_id)
    assert {x.product_id: x.quantity for x in final.lines} == expected | {"P2": 2}  # added once
    assert {r.version for r in twice} == {final.version}


def test_missing_or_malformed_if_match_and_bad_lines_are_refused_naming_the_field(
    client: TestClient, shop: Engine, admin: dict[str, str]
) -> None:
    cart_id = ok(client.get("/v1/customers/C1/cart", headers=admin))["cart_id"]
    body = {"product_id": "P1", "quantity": 1}
    missing = client.post(f"/v1/carts/{cart_id}/lines", json=body, headers=admin)
    assert missing.status_code == 428 and "If-Match" in missing.json()["detail"]
    assert client.put(f"/v1/carts/{cart_id}", json={}, headers=admin).status_code == 428
    assert client.delete(f"/v1/carts/{cart_id}/lines/P1", headers=admin).status_code == 428
    bad = client.post(f"/v1/carts/{cart_id}/lines", json=body, headers={**admin, "If-Match": "*"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["header", "If-Match"]
    for quantity in (0, 1000, 2.5, "2"):
        refused = line(client, admin, cart_id, 1, "P1", quantity)  # type: ignore[arg-type]
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "quantity"], quantity
    unknown = line(client, admin, cart_id, 1, "P9", 1)
    assert unknown.status_code == 422 and unknown.json()["detail"] == "product_id: unknown product 'P9'"
    assert line(client, admin, "nosuchcart", 1, "P1", 1).status_code == 404
    assert client.get("/v1/carts/nosuchcart", headers=admin).status_code == 404
    elsewhere = client.put(f"/v1/carts/{cart_id}", json={"store_id": "NOPE"}, headers={**admin, "If-Match": "1"})
    assert elsewhere.status_code == 422 and "store_id: unknown store 'NOPE'" in elsewhere.json()["detail"]
    assert ok(client.get(f"/v1/carts/{cart_id}", headers=admin))["version"] == 1  # nothing refused changed it


def test_a_cart_holds_at_most_100_lines(client: TestClient, shop: Engine, admin: dict[str, str]) -> None:
    cart_id = ok(client.get("/v1/customers/C1/cart", headers=admin))["cart_id"]
    with Session(shop) as s, s.begin():
        s.add_all([Product(product_id=f"X{i:03}", name=f"extra {i}", price_cents=100) for i in range(MAX_LINES)])
        s.flush()
        s.add_all(
            [
                CartLine(cart_id=cart_id, product_id=f"X{i:03}", quantity=1, unit_price_cents=100, added_at=T0)
                for i in range(MAX_LINES)
            ]
        )
    full = line(client, admin, cart_id, 1, "P1", 1)
    assert full.status_code == 409 and f"{MAX_LINES} lines" in full.json()["detail"]
    assert len(ok(line(client, admin, cart_id, 1, "X007", 3))["lines"]) == MAX_LINES  # a line there may change


def test_a_guest_cart_merges_into_the_customers_cart_once(
    client: TestClient, shop: Engine, admin: dict[str, str]
) -> None:
    app = key(shop, "app")
    made = client.post("/v1/carts", json={"store_id": "S1", "channel": "mobile"}, headers=app)
    guest = ok(made, 201)
    assert guest["customer_id"] is None and made.headers["Location"] == f"/v1/carts/{guest['cart_id']}"
    assert ok(client.post("/v1/carts", headers=app), 201)["cart_id"] != guest["cart_id"]  # no body: online guest cart
    mine = ok(client.get("/v1/customers/C1/cart", headers=admin))
    ok(line(client, admin, mine["cart_id"], 1, "P1", 1))  # seen at 10.00
    set_price(shop, "P1", 900)
    ok(line(client, app, guest["cart_id"], 1, "P1", 2))  # seen at 9.00
    ok(line(client, app, guest["cart_id"], 2, "P2", 1))
    sign_in = key(shop, "customer", customer_id="C1")
    merged = ok(client.post(f"/v1/carts/{guest['cart_id']}/merge", json={"customer_id": "C1"}, headers=sign_in))
    assert merged["cart_id"] == mine["cart_id"] and merged["version"] == 3
    assert quantities(merged) == {"P1": 3, "P2": 1}
    assert {x["product_id"]: x["unit_price"] for x in merged["lines"]} == {"P1": 10.0, "P2": 2.5}
    left = ok(client.get(f"/v1/carts/{guest['cart_id']}", headers=app))
    assert left["lines"] == [] and left["merged_into"] == mine["cart_id"]
    again = ok(client.post(f"/v1/carts/{guest['cart_id']}/merge", json={"customer_id": "C1"}, headers=sign_in))
    assert again == merged  # a retry changes nothing
    other = client.post(f"/v1/carts/{guest['cart_id']}/merge", json={"customer_id": "C2"}, headers=admin)
    assert other.status_code == 409 and "another customer" in other.json()["detail"]
    gone = line(client, app, guest["cart_id"], left["version"], "P3", 1)
    assert gone.status_code == 410 and gone.json()["merged_into"] == mine["cart_id"]
    own = client.post(f"/v1/carts/{mine['cart_id']}/merge", json={"customer_id": "C1"}, headers=admin)
    assert own.status_code == 409 and "only a guest cart" in own.json()["detail"]
    fresh = ok(client.post("/v1/carts", headers=app), 201)["cart_id"]
    nobody = client.post(f"/v1/carts/{fresh}/merge", json={"customer_id": "C9"}, headers=admin)
    assert nobody.status_code == 422 and nobody.json()["detail"] == "customer_id: unknown customer 'C9'"


def test_merging_into_a_customer_without_a_cart_makes_it(client: TestClient, shop: Engine) -> None:
    app = key(shop, "app")
    guest = ok(client.post("/v1/carts", json={"store_id": "S2"}, headers=app), 201)
    ok(line(client, app, guest["cart_id"], 1, "P3", 2))
    merged = ok(client.post(f"/v1/carts/{guest['cart_id']}/merge", json={"customer_id": "C2"}, headers=app))
    assert merged["customer_id"] == "C2" and merged["store_id"] == "S2" and quantities(merged) == {"P3": 2}
    assert ok(client.get("/v1/customers/C2/cart", headers=app))["cart_id"] == merged["cart_id"]


def test_roles_and_ownership(client: TestClient, shop: Engine, admin: dict[str, str]) -> None:
    c1 = ok(client.get("/v1/customers/C1/cart", headers=admin))["cart_id"]
    other = key(shop, "customer", customer_id="C2")
    assert client.get("/v1/customers/C1/cart", headers=other).status_code == 403
    assert client.get(f"/v1/carts/{c1}", headers=other).status_code == 403
    assert line(client, other, c1, 1, "P1", 1).status_code == 403
    assert client.post(f"/v1/carts/{c1}/merge", json={"customer_id": "C1"}, headers=other).status_code == 403
    for role in ("marketing", "planner"):
        assert client.get(f"/v1/carts/{c1}", headers=key(shop, role)).status_code == 403
    guest = ok(client.post("/v1/carts", headers=other), 201)["cart_id"]  # any key holding the id may use a guest cart
    assert ok(line(client, key(shop, "customer", customer_id="C1"), guest, 1, "P2", 1))["version"] == 2
    s1, s2 = key(shop, "store", store_id="S1"), key(shop, "store", store_id="S2")
    at_s1 = ok(client.post("/v1/carts", json={"channel": "store"}, headers=s1), 201)
    assert at_s1["store_id"] == "S1"  # a store key's carts are at its store
    assert client.post("/v1/carts", json={"store_id": "S2"}, headers=s1).status_code == 403
    assert client.get(f"/v1/carts/{at_s1['cart_id']}", headers=s2).status_code == 403
    assert ok(client.get(f"/v1/carts/{c1}", headers=s2))["cart_id"] == c1  # a customer's cart at any store
    moved = client.put(f"/v1/carts/{c1}", json={"store_id": "S1"}, headers={**s2, "If-Match": "1"})
    assert moved.status_code == 403
    here = client.put(f"/v1/carts/{c1}", json={"store_id": "S2"}, headers={**s2, "If-Match": "1"})
    assert ok(here)["store_id"] == "S2"
    assert client.get(f"/v1/carts/{c1}").status_code == 401


def test_openapi_documents_every_cart_status(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in (
        ("/v1/carts/{cart_id}/lines", "post"),
        ("/v1/carts/{cart_id}/lines/{product_id}", "delete"),
        ("/v1/carts/{cart_id}", "put"),
    ):
        operation = paths[path][method]
        assert {"200", "401", "403", "404", "409", "410", "422", "428"} <= set(operation["responses"]), path
        if_match = [p for p in operation["parameters"] if p["name"] == "If-Match"]
        assert len(if_match) == 1 and if_match[0]["required"] is True
    assert {"201", "422"} <= set(paths["/v1/carts"]["post"]["responses"])
    assert {"200", "404", "409", "422"} <= set(paths["/v1/carts/{cart_id}/merge"]["post"]["responses"])
