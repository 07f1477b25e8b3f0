"""The order-entry pages at a phone's width: a rep serves a customer from search to order (an offer and points
applied, checked in the API), two tabs edit one cart, a double submit makes one order, and only the staff who may
place orders open the pages (a store key for its own store only)."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

PHONE = 360
Page = Any
POINTS = 40  # redeemed in the main flow (the customer earns more first)


def online_store(http: httpx.Client, product_id: str) -> str:
    stores = http.get(f"/v1/products/{product_id}/availability").json()["stores"]
    return next(s["store_id"] for s in stores if s["kind"] == "online" and s["available"] > 0)


def earn_points(http: httpx.Client, customer_id: str) -> None:
    """A paid order of about 100 through the API (the dearest product in stock online), so the customer has points
    to redeem."""
    dearest = http.get("/v1/products", params={"in_stock": "online", "sort": "-price", "limit": 1}).json()["items"][0]
    quantity = min(math.ceil(100 / dearest["price"]), dearest["available"])
    product_id = dearest["product_id"]
    body = {
        "customer_id": customer_id,
        "channel": "web",
        "fulfilment": "ship",
        "store_id": online_store(http, product_id),
        "lines": [{"product_id": product_id, "quantity": quantity}],
    }
    placed = http.post("/v1/orders", json=body, headers={"Idempotency-Key": f"oe-points-{uuid.uuid4()}"})
    assert placed.status_code == 201, placed.text
    paid = http.post(f"/v1/orders/{placed.json()['order_id']}/status", json={"status": "paid"})
    assert paid.status_code == 200, paid.text


@pytest.fixture(scope="module")
def served(http: httpx.Client) -> dict[str, Any]:
    """A customer holding a personal offer with a code (for a product in stock online) and points to redeem."""
    for n in range(1, 120):
        cid = f"C{n:05d}"
        answer = http.get(f"/v1/customers/{cid}/offers")
        assert answer.status_code == 200, answer.text
        found = answer.json()
        items = (found.get("offers") or {}).get("items", [])
        coded = [o for o in items if o["code"] and o["recommended"] and o["price"] and o["price"] >= 2]
        if coded:
            break
    else:
        pytest.fail("no customer among the first 120 holds an offer with a code (is the churn model scoring?)")
    offer = coded[0]
    if (found.get("points") or 0) < POINTS:
        earn_points(http, cid)
    empty_cart(http, cid)
    record = http.get(f"/v1/customers/{cid}/profile").json()["customer"]
    assert http.get(f"/v1/customers/{cid}/loyalty").json()["balance"] >= POINTS
    return {"id": cid, "email": record["email"], "name": record["name"], "offer": offer}


def empty_cart(http: httpx.Client, customer_id: str) -> None:
    """The customer's cart without lines (a reused workspace keeps an earlier run's)."""
    cart = http.get(f"/v1/customers/{customer_id}/cart").json()
    for line in cart["lines"]:
        answer = http.delete(
            f"/v1/carts/{cart['cart_id']}/lines/{line['product_id']}", headers={"If-Match": str(cart["version"])}
        )
        assert answer.status_code == 200, answer.text
        cart = answer.json()


def new_customer(http: httpx.Client) -> str:
    tag = uuid.uuid4().hex[:10]
    made = http.post("/v1/customers", json={"name": f"Tab Tester {tag}", "email": f"tabs.{tag}@example.com"})
    assert made.status_code == 201, made.text
    return str(made.json()["customer_id"])


def fill_cart(http: httpx.Client, customer_id: str, units: dict[str, int]) -> dict[str, Any]:
    """The customer's cart (at the online shop) with these lines, through the cart API."""
    cart = http.get(f"/v1/customers/{customer_id}/cart").json()
    for product_id, quantity in units.items():
        answer = http.post(
            f"/v1/carts/{cart['cart_id']}/lines",
            json={"product_id": product_id, "quantity": quantity},
            headers={"If-Match": str(cart["version"])},
        )
        assert answer.status_code == 200, answer.text
        cart = answer.json()
    return dict(cart)


def in_stock_online(http: httpx.Client, count: int) -> list[str]:
    """Products with several units available online (the default store of the pages)."""
    found = http.get("/v1/products", params={"in_stock": "online", "limit": 50, "sort": "popularity"}).json()
    ids = [p["product_id"] for p in found["items"] if p["available"] >= 5]
    assert len(ids) >= count, found
    return ids[:count]


def phone_look(look: Callable[[Page, str], None], page: Page, name: str) -> None:
    """`look` (both widths), then back to the phone's width the flow runs at."""
    look(page, name)
    page.set_viewport_size({"width": PHONE, "height": 800})


def lines(page: Page) -> dict[str, int]:
    """The cart page's lines: product id -> quantity."""
    rows = page.locator("[data-lines] li[data-line]")
    ids = rows.evaluate_all("rs => rs.map(r => r.dataset.line)")
    quantities = [
        int(v) for v in page.locator("[data-lines] input[name=quantity]").evaluate_all("xs => xs.map(x => x.value)")
    ]
    return dict(zip(ids, quantities, strict=True))


def test_a_rep_serves_a_customer_from_search_to_order(
    sign_in: Callable[..., Page], http: httpx.Client, look: Callable[[Page, str], None], served: dict[str, Any]
) -> None:
    cid, offer = served["id"], served["offer"]
    page = sign_in("sales_rep", PHONE)
    page.goto("/ui/order-entry")
    phone_look(look, page, "order-entry-start")
    page.get_by_label("Customer id, name or email").fill(served["email"])
    page.get_by_role("button", name="Find", exact=True).click()
    page.wait_for_load_state()
    card = page.locator(f"[data-found] li[data-customer='{cid}']")
    assert served["name"] in card.inner_text()
    card.get_by_role("link").click()
    page.wait_for_load_state()
    assert page.url.split("?")[0].endswith(f"/ui/order-entry/customers/{cid}")
    phone_look(look, page, "order-entry-catalogue")

    # search the catalogue for the offer's product by its name, open it, add it in one tap
    page.get_by_label("Search products").fill(offer["name"])
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_load_state()
    hit = page.locator(f"[data-results] li[data-product='{offer['product_id']}']")
    assert hit.count() == 1, page.inner_text("main")[:1500]
    hit.get_by_role("link", name=offer["name"]).click()
    page.wait_for_load_state()
    api = http.get(f"/v1/products/{offer['product_id']}", params={"store_id": "S00"}).json()
    assert page.locator("[data-specs] dt").all_inner_texts() == [s["name"] for s in api["specifications"]]
    assert float(page.locator("[data-price]").get_attribute("data-price") or "nan") == api["price"]
    stores = page.locator("[data-stock] li").evaluate_all("rs => rs.map(r => r.dataset.store)")
    assert stores[0] == "S00" and sorted(stores) == sorted(s["store_id"] for s in api["availability"]["stores"])
    phone_look(look, page, "order-entry-product")
    page.get_by_role("button", name=re.compile(rf"^Add to cart\W+{re.escape(offer['name'])}$")).click()
    page.wait_for_load_state()
    assert offer["name"] in page.locator("[data-added]").inner_text()

    # the cart: the line, then a recommended item added from the cart's suggestions
    page.locator(".oe-steps").get_by_role("link", name=re.compile("^Cart")).click()
    page.wait_for_load_state()
    assert lines(page) == {offer["product_id"]: 1}
    phone_look(look, page, "order-entry-cart")
    suggested = page.locator("[data-recommendations] li").first
    extra = suggested.get_attribute("data-product")
    assert extra and extra != offer["product_id"]
    suggested.get_by_role("button", name=re.compile("^Add")).click()
    page.wait_for_load_state()
    assert lines(page) == {offer["product_id"]: 1, extra: 1}
    cart = http.get(f"/v1/customers/{cid}/cart").json()
    assert {line["product_id"]: line["quantity"] for line in cart["lines"]} == {offer["product_id"]: 1, extra: 1}

    # checkout: the offer and points, shipped
    page.locator(".oe-steps").get_by_role("link", name="Checkout").click()
    page.wait_for_load_state()
    assert int(page.locator("[data-points]").get_attribute("data-points") or "-1") >= POINTS
    phone_look(look, page, "order-entry-checkout")
    page.locator(f"input[data-offer='{offer['code']}']").check()
    page.get_by_label("Points to redeem").fill(str(POINTS))
    page.get_by_label("Ship to the customer").check()
    page.get_by_role("button", name="Place the order").click()
    page.wait_for_load_state()
    assert "/ui/order-entry/orders/" in page.url, page.locator("[data-error]").all_inner_texts()
    order_id = page.locator("[data-order-id]").inner_text()
    phone_look(look, page, "order-entry-order")

    # the order in the API: its offer discount, code and points; the offer is spent
    order = http.get(f"/v1/orders/{order_id}").json()
    assert order["customer_id"] == cid and order["cart_id"] == cart["cart_id"] and order["fulfilment"] == "ship"
    assert {line["product_id"] for line in order["lines"]} == {offer["product_id"], extra}
    assert order["offer_codes"] == [offer["code"]]
    line = next(x for x in order["lines"] if x["product_id"] == offer["product_id"])
    expected = min(math.floor(round(line["line_total"] * 100) * offer["discount_pct"] / 100), offer["cap_cents"])
    assert round(order["offer_discount"] * 100) == expected > 0
    assert order["points_redeemed"] == POINTS and order["discount"] == pytest.approx(POINTS / 100)
    total = sum(x["line_total"] for x in order["lines"]) - order["offer_discount"] - order["discount"]
    assert order["total"] == pytest.approx(total)
    assert page.locator("[data-offer-codes]").inner_text() == f"({offer['code']})"
    assert float(page.locator("[data-total]").get_attribute("data-total") or "nan") == order["total"]
    assert http.get(f"/v1/customers/{cid}/cart").json()["lines"] == []
    live = http.get(f"/v1/customers/{cid}/offers").json()["offers"]["items"]
    assert offer["code"] not in [o["code"] for o in live]
    again = {
        "customer_id": cid,
        "channel": "sales_rep",
        "fulfilment": "ship",
        "store_id": "S00",
        "lines": [{"product_id": offer["product_id"], "quantity": 1}],
        "offer_codes": [offer["code"]],
    }
    refused = http.post("/v1/orders", json=again, headers={"Idempotency-Key": f"oe-again-{uuid.uuid4()}"})
    assert refused.status_code == 409 and offer["code"] in refused.json()["detail"]
    assert page.locator(f"[data-recent] li[data-order='{order_id}']").count() == 1


def test_a_second_tab_editing_the_same_cart_sees_the_conflict_and_recovers(
    sign_in: Callable[..., Page], http: httpx.Client, look: Callable[[Page, str], None]
) -> None:
    cid = new_customer(http)
    first, second = in_stock_online(http, 2)
    fill_cart(http, cid, {first: 1, second: 1})
    tab1 = sign_in("sales_rep", PHONE)
    tab2 = tab1.context.new_page()
    for tab in (tab1, tab2):
        tab.goto(f"/ui/order-entry/customers/{cid}/cart")
        assert lines(tab) == {first: 1, second: 1}
    tab1.locator(f"li[data-line='{first}'] input[name=quantity]").fill("3")
    tab1.locator(f"li[data-line='{first}']").get_by_role("button", name=re.compile("^Update")).click()
    tab1.wait_for_load_state()
    assert lines(tab1) == {first: 3, second: 1}

    with tab2.expect_response(lambda r: r.request.method == "POST" and "/cart/remove" in r.url) as answer:
        tab2.locator(f"button[data-remove='{second}']").click()
    assert answer.value.status == 409
    tab2.wait_for_load_state()
    assert tab2.locator("[data-conflict]").is_visible()
    assert lines(tab2) == {first: 3, second: 1}  # the cart as it is now: the other tab's change is there
    look(tab2, "order-entry-conflict")
    tab2.locator("[data-redo]").click()
    tab2.wait_for_load_state()
    assert tab2.locator("[data-conflict]").count() == 0
    assert lines(tab2) == {first: 3}
    cart = http.get(f"/v1/customers/{cid}/cart").json()
    assert {line["product_id"]: line["quantity"] for line in cart["lines"]} == {first: 3}


def form_fields(page: Page, selector: str) -> dict[str, str]:
    return dict(page.locator(f"{selector} input[type=hidden]").evaluate_all("xs => xs.map(x => [x.name, x.value])"))


def test_a_double_submit_makes_one_order_and_a_refusal_names_what_failed(
    sign_in: Callable[..., Page], http: httpx.Client
) -> None:
    cid = new_customer(http)
    (product,) = in_stock_online(http, 1)
    fill_cart(http, cid, {product: 2})
    page = sign_in("sales_rep", PHONE)
    page.goto(f"/ui/order-entry/customers/{cid}/checkout")
    assert page.locator("[data-points]").get_attribute("data-points") == "0"
    page.locator("#redeem_points").evaluate("x => x.removeAttribute('max')")  # past the browser's own check
    page.get_by_label("Points to redeem").fill("500")
    page.get_by_role("button", name="Place the order").click()
    page.wait_for_load_state()
    assert "redeem_points" in page.locator("[data-error]").inner_text()  # a new customer has no points
    assert http.get("/v1/orders", params={"customer_id": cid}).json()["items"] == []

    fields = form_fields(page, "form.checkout") | {"fulfilment": "ship", "redeem_points": "0"}
    answers = [page.request.post(f"/ui/order-entry/customers/{cid}/checkout", form=fields, max_redirects=0)]
    answers.append(page.request.post(f"/ui/order-entry/customers/{cid}/checkout", form=fields, max_redirects=0))
    assert [a.status for a in answers] == [303, 303]
    where = [a.headers["location"] for a in answers]
    assert where[0].split("?")[0] == where[1].split("?")[0] and "placed=again" in where[1]
    listed = http.get("/v1/orders", params={"customer_id": cid}).json()["items"]
    assert len(listed) == 1 and listed[0]["lines"][0]["quantity"] == 2
    page.goto(where[1])
    assert "second submit makes no second order" in page.locator("[data-placed]").inner_text()


def test_a_rep_adds_a_customer_and_an_email_already_known_finds_them(
    sign_in: Callable[..., Page], http: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:8]
    page = sign_in("sales_rep", PHONE)
    page.goto("/ui/order-entry")
    page.get_by_label("Name", exact=True).fill(f"Ana Order {tag}")
    page.get_by_label("Email", exact=True).fill(f"Ana.Order.{tag}@Example.com")
    page.get_by_role("button", name="Add and serve").click()
    page.wait_for_load_state()
    cid = page.locator("[data-customer-id]").get_attribute("data-customer-id")
    assert cid and f"/ui/order-entry/customers/{cid}" in page.url
    assert http.get(f"/v1/customers/{cid}/profile").json()["customer"]["email"] == f"ana.order.{tag}@example.com"
    page.goto("/ui/order-entry")
    page.get_by_label("Name", exact=True).fill("Someone Else")
    page.get_by_label("Email", exact=True).fill(f"ana.order.{tag}@example.com")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Add and serve").click()
    assert answer.value.status == 409
    assert cid in page.locator("[role=alert]").inner_text()
    page.get_by_role("link", name=re.compile(f"^Serve .*{cid}")).click()
    page.wait_for_load_state()
    assert f"/ui/order-entry/customers/{cid}" in page.url
    page.goto("/ui/order-entry")
    page.get_by_label("Name", exact=True).fill("No Mail")
    page.get_by_label("Email", exact=True).fill("not-an-email")
    page.evaluate("document.querySelector('#new-email').type = 'text'")  # past the browser's own check
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Add and serve").click()
    assert answer.value.status == 422
    assert "email" in page.locator("[role=alert]").inner_text() and "not-an-email" in page.inner_text("main")


@pytest.fixture(scope="module")
def store_key(built: Any) -> tuple[str, str, str]:
    """A store key bound to a shop (not the online store): the key, its store and another store."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from retail import db
    from serving.auth import create_key
    from serving.commerce.tables import Store

    engine = db.engine(built.ws, built.settings)
    with Session(engine) as s:
        shops = list(s.scalars(select(Store.store_id).where(Store.kind == "store").order_by(Store.store_id)))
    key, _ = create_key(engine, "store", store_id=shops[0], name="browser store")
    return key, shops[0], shops[1]


@pytest.fixture
def store_page(browser: Any, base_url: str, store_key: tuple[str, str, str]) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url, viewport={"width": PHONE, "height": 800})
    page = context.new_page()
    page.goto("/ui/login")
    page.fill("input[name=key]", store_key[0])
    page.click("button[type=submit]")
    page.wait_for_load_state()
    yield page
    context.close()


def test_a_store_key_serves_only_its_own_store(
    store_page: Page, store_key: tuple[str, str, str], http: httpx.Client
) -> None:
    _, mine, other = store_key
    page = store_page
    page.goto("/ui/order-entry")
    assert page.locator("main [data-store-id]").first.get_attribute("data-store-id") == mine
    assert page.locator("select#store").count() == 0  # nothing to choose
    for path in ("/ui/order-entry", "/ui/order-entry/customers/C00002", "/ui/order-entry/customers/C00002/cart"):
        answer = page.goto(f"{path}?store={other}")
        assert answer is not None and answer.status == 403, path
    page.goto("/ui/order-entry/customers/C00002")
    assert page.locator(".oe-who [data-store-id]").get_attribute("data-store-id") == mine
    fields = form_fields(page, "form.add") | {"store": other}
    refused = page.request.post("/ui/order-entry/customers/C00002/cart/add", form=fields, max_redirects=0)
    assert refused.status == 403
    (product,) = in_stock_online(http, 1)
    body = {
        "customer_id": new_customer(http),
        "channel": "web",
        "fulfilment": "ship",
        "store_id": online_store(http, product),
        "lines": [{"product_id": product, "quantity": 1}],
    }
    online = http.post("/v1/orders", json=body, headers={"Idempotency-Key": f"oe-online-{uuid.uuid4()}"})
    assert online.status_code == 201, online.text
    answer = page.goto(f"/ui/order-entry/orders/{online.json()['order_id']}")
    assert answer is not None and answer.status == 403

    # an associate's order: in stock here, picked up here
    cid = new_customer(http)
    page.goto(f"/ui/order-entry/customers/{cid}?here=true")
    page.locator("[data-results] li").first.get_by_role("button", name=re.compile("^Add")).click()
    page.wait_for_load_state()
    page.locator(".oe-steps").get_by_role("link", name="Checkout").click()
    page.wait_for_load_state()
    assert page.locator("[data-points]").count() == 0  # a store key may not read the balance
    page.get_by_label(re.compile("Pick up at")).check()
    page.get_by_role("button", name="Place the order").click()
    page.wait_for_load_state()
    order = http.get(f"/v1/orders/{page.locator('[data-order-id]').inner_text()}").json()
    assert (order["store_id"], order["fulfilment"], order["channel"]) == (mine, "pickup", "store")
    page.goto("/ui/order-entry")
    listed = page.locator("[data-recent] li").evaluate_all("rs => rs.map(r => r.dataset.order)")
    assert order["order_id"] in listed
    stores = [t.split(" · ")[2] for t in page.locator("[data-recent] li .meta").all_inner_texts()]
    assert set(stores) == {mine}


def test_a_planner_may_not_open_order_entry(sign_in: Callable[..., Page]) -> None:
    page = sign_in("planner", PHONE)
    for path in ("/ui/order-entry", "/ui/order-entry/customers/C00001", "/ui/order-entry/customers/C00001/cart"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 403, path
        assert "may not open this page" in page.inner_text("main")
    assert "Order entry" not in page.locator("nav[aria-label=Pages]").inner_text()


def test_compare_and_upgrade_options_are_the_apis(
    sign_in: Callable[..., Page], http: httpx.Client, look: Callable[[Page, str], None]
) -> None:
    cid = new_customer(http)
    basics = http.get("/v1/products", params={"tier": "good", "in_stock": "S00", "limit": 30}).json()["items"]
    base, better = next(
        (p, up)
        for p in basics
        if (up := http.get(f"/v1/products/{p['product_id']}/upgrades", params={"store_id": "S00", "limit": 5}).json())[
            "items"
        ]
    )
    page = sign_in("sales_rep", PHONE)
    page.goto(f"/ui/order-entry/customers/{cid}/products/{base['product_id']}")
    shown = page.locator("[data-upgrades] > li").evaluate_all("rs => rs.map(r => r.dataset.product)")
    assert shown == [u["product_id"] for u in better["items"]]
    first = better["items"][0]
    card = page.locator(f"[data-upgrades] > li[data-product='{first['product_id']}']")
    assert f"£{first['extra_cost']:.2f} more" in card.inner_text()
    assert card.locator(".adds li").count() == len(first["adds"])
    card.get_by_role("button", name=re.compile("^Add")).click()
    page.wait_for_load_state()
    cart = http.get(f"/v1/customers/{cid}/cart").json()
    assert [line["product_id"] for line in cart["lines"]] == [first["product_id"]]

    # tick two search results and compare them; one alone is refused naming the field
    page.goto(f"/ui/order-entry/customers/{cid}?category={base['category']}")
    ids = page.locator("[data-results] li").evaluate_all("rs => rs.slice(0, 2).map(r => r.dataset.product)")
    for product_id in ids:
        page.locator(f"[data-results] li[data-product='{product_id}'] input[name=ids]").check()
    page.get_by_role("button", name=re.compile("^Compare the ticked")).click()
    page.wait_for_load_state()
    api = http.get("/v1/products/compare", params={"ids": ",".join(ids), "store_id": "S00"}).json()
    assert page.locator("[data-compared] li").evaluate_all("rs => rs.map(r => r.dataset.product)") == ids
    rows = page.locator("table.compare tbody tr")
    assert rows.count() == max(1, len(api["specifications"]))
    assert page.locator("tr[data-differs]").count() == sum(r["differs"] for r in api["specifications"])
    phone_look(look, page, "order-entry-compare")
    answer = page.goto(f"/ui/order-entry/customers/{cid}/compare?ids={ids[0]}")
    assert answer is not None and answer.status == 422
    assert "ids: tick 2 to 5" in page.locator("[role=alert]").inner_text()
    # a link may name them as the API does, comma-separated
    page.goto(f"/ui/order-entry/customers/{cid}/compare?ids={','.join(ids)}")
    assert page.locator("[data-compared] li").evaluate_all("rs => rs.map(r => r.dataset.product)") == ids


def test_a_changed_price_is_shown_and_confirmed_before_it_is_charged(
    sign_in: Callable[..., Page], http: httpx.Client, built: Any
) -> None:
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    from retail import db
    from serving.commerce.tables import Product

    cid = new_customer(http)
    product_id = in_stock_online(http, 3)[2]
    seen = fill_cart(http, cid, {product_id: 1})["lines"][0]["unit_price"]
    engine = db.engine(built.ws, built.settings)
    cents = round(seen * 100)
    try:
        with Session(engine) as s, s.begin():
            s.execute(update(Product).where(Product.product_id == product_id).values(price_cents=cents + 125))
        page = sign_in("sales_rep", PHONE)
        page.goto(f"/ui/order-entry/customers/{cid}/cart")
        assert float(page.locator("[data-price-now]").get_attribute("data-price-now") or "nan") == (cents + 125) / 100
        assert page.locator("[data-changes] li[data-change=price]").count() == 1
        page.locator(".oe-steps").get_by_role("link", name="Checkout").click()
        page.wait_for_load_state()
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.get_by_role("button", name="Place the order").click()
        assert answer.value.status == 409
        assert f"£{seen:.2f} → £{(cents + 125) / 100:.2f}" in page.locator("[data-price-changes]").inner_text()
        assert http.get("/v1/orders", params={"customer_id": cid}).json()["items"] == []
        page.get_by_role("button", name="Place the order").click()  # the customer agrees: the new price
        page.wait_for_load_state()
        order = http.get(f"/v1/orders/{page.locator('[data-order-id]').inner_text()}").json()
        assert order["lines"][0]["unit_price"] == (cents + 125) / 100
    finally:
        with Session(engine) as s, s.begin():
            s.execute(update(Product).where(Product.product_id == product_id).values(price_cents=cents))


def test_a_form_returns_only_to_an_order_entry_page() -> None:
    """`back` is where a form sends the browser after it: never another site, whatever the form says."""
    from serving.web.order_entry_base import back_to

    home = "/ui/order-entry/customers/C1/cart?store=S00"
    assert back_to("/ui/order-entry/customers/C1?q=kettle&added=P1", home, added="P2") == (
        "/ui/order-entry/customers/C1?q=kettle&added=P2"
    )
    for elsewhere in ("https://evil.example/ui/order-entry", "//evil.example/ui/order-entry", "/ui/sales", None, ""):
        assert back_to(elsewhere, home, done="set") == home + "&done=set", elsewhere
    assert back_to("/ui/order-entry//evil.example", home) == home
    assert back_to("/ui/order-entry\\\\evil.example", home) == home


def test_nearby_stores_are_those_of_the_region_after_this_one() -> None:
    from serving.commerce.product_payloads import StoreStock
    from serving.web.order_entry_base import StoreView, Where
    from serving.web.order_entry_catalogue import by_distance

    stores = [
        StoreView("S00", "Online", "online", None),
        StoreView("S01", "North A", "store", "North"),
        StoreView("S02", "North B", "store", "North"),
        StoreView("S03", "South", "store", "South"),
    ]
    at = Where(stores[1], False, stores)
    units = dict(zip(("S00", "S01", "S02", "S03"), (5, 0, 2, 9), strict=True))
    stock = [StoreStock(store_id=s.store_id, name=s.name, kind=s.kind, available=units[s.store_id]) for s in stores]
    ranked = by_distance(stock, at, stores)
    assert [r["store_id"] for r in ranked] == ["S01", "S02", "S03", "S00"]
    assert [r["where"] for r in ranked] == ["this store", "nearby", "", ""]
