"""The customers pages: finding a customer, and the 360 page against `GET /v1/customers/{id}/profile`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

Page = Any


@pytest.fixture(scope="module")
def customer(http: httpx.Client) -> dict[str, Any]:
    """A customer the churn model scores with drivers, who has just placed and paid an order online (so the page
    has an order with a status history and points) and whose feedback was resolved; their order id."""
    for n in range(1, 60):
        cid = f"C{n:05d}"
        found = http.get(f"/v1/customers/{cid}/profile").json()
        if found.get("churn") and found["churn"]["drivers"] and found.get("recommendations", {}).get("items"):
            break
    else:
        pytest.fail("no customer among the first 60 has a churn score with drivers and offers")
    product = found["recommendations"]["items"][0]["product_id"]
    stores = http.get(f"/v1/products/{product}/availability").json()["stores"]
    online = next(s["store_id"] for s in stores if s["kind"] == "online" and s["available"] > 0)
    body = {
        "customer_id": cid,
        "channel": "web",
        "fulfilment": "ship",
        "store_id": online,
        "lines": [{"product_id": product, "quantity": 1}],
    }
    placed = http.post("/v1/orders", json=body, headers={"Idempotency-Key": f"ui-customer-{uuid.uuid4()}"})
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    paid = http.post(f"/v1/orders/{order_id}/status", json={"status": "paid"})
    assert paid.status_code == 200, paid.text
    # feedback and a resolution note of one unbroken word each: long text must wrap, never widen the page
    sent = http.post("/v1/feedback", json={"customer_id": cid, "rating": 2, "text": "unbroken" * 60})
    assert sent.status_code in (200, 201), sent.text
    resolved = http.post(f"/v1/feedback/{sent.json()['id']}/resolve", json={"note": "replacement" * 40})
    assert resolved.status_code == 200, resolved.text
    return {"id": cid, "order_id": order_id}


def kpi(page: Page, name: str) -> str | None:
    tile = page.locator(f"[data-kpi={name}]")
    return tile.get_attribute("data-value") if tile.count() else None


def test_an_exact_id_in_any_case_opens_the_customer(sign_in: Callable[..., Page], customer: dict[str, Any]) -> None:
    page = sign_in("sales_rep")
    page.goto("/ui/customers")
    page.get_by_label("Customer id, name or email").fill(customer["id"].lower())
    page.get_by_role("button", name="Find").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/ui/customers/{customer['id']}")
    assert page.locator("[data-customer-id]").inner_text() == customer["id"]


def test_a_name_or_an_email_finds_the_customer(sign_in: Callable[..., Page], http: httpx.Client) -> None:
    record = http.get("/v1/customers/C00007/profile").json()["customer"]
    assert record["name"] and record["email"]  # the simulator names its customers
    page = sign_in("sales_rep")
    for q in (record["name"].upper(), record["email"]):
        page.goto("/ui/customers?" + urlencode({"q": q}))
        row = page.locator("table tbody tr", has=page.get_by_role("link", name="C00007", exact=True))
        assert row.count() == 1, q
        assert record["name"] in row.inner_text() and record["email"] in row.inner_text()
    assert page.locator(".missing").count() == 0  # names exist: no note that they do not
    page.get_by_role("link", name="C00007", exact=True).click()
    page.wait_for_load_state()
    assert record["name"] in page.locator("h1").inner_text() and record["email"] in page.inner_text("main")


def test_the_start_of_an_id_lists_the_customers_it_begins(
    sign_in: Callable[..., Page], customer: dict[str, Any], look: Callable[[Page, str], None]
) -> None:
    page = sign_in("sales_rep")
    prefix = customer["id"][:-1]  # ten customers at most share all but the last digit
    page.goto(f"/ui/customers?q={prefix.lower()}")
    links = page.locator("table a[href^='/ui/customers/']").all_inner_texts()
    assert customer["id"] in links
    assert links and all(link.upper().startswith(prefix.upper()) for link in links)
    look(page, "customers")
    page.get_by_role("link", name=customer["id"], exact=True).click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/ui/customers/{customer['id']}")


def test_a_search_that_finds_nobody_says_so_and_a_bad_one_names_the_field(sign_in: Callable[..., Page]) -> None:
    page = sign_in("admin")
    page.goto("/ui/customers?q=no-such-customer-" + uuid.uuid4().hex[:8])
    assert "No customer's id, name or email starts with" in page.inner_text("main")
    answer = page.goto("/ui/customers?q=" + "x" * 65)
    assert answer is not None and answer.status == 422
    text = page.inner_text("main")
    assert "q: " in text and "x" * 65 in text  # the field and the value


def test_the_customer_page_shows_what_the_profile_api_gives(
    sign_in: Callable[..., Page], http: httpx.Client, customer: dict[str, Any], look: Callable[[Page, str], None]
) -> None:
    page = sign_in("admin")
    page.goto(f"/ui/customers/{customer['id']}")
    api = http.get(f"/v1/customers/{customer['id']}/profile").json()
    churn = api["churn"]
    assert float(kpi(page, "churn_probability") or "nan") == pytest.approx(churn["probability"], abs=1e-9)
    assert kpi(page, "churn_band") == churn["band"]
    assert page.locator("[data-churn-band]").inner_text() == churn["band"]
    assert page.locator("[data-churn-drivers] li").all_inner_texts() == churn["drivers"]
    loyalty = http.get(f"/v1/customers/{customer['id']}/loyalty").json()
    assert loyalty["balance"] > 0  # the paid order earned points
    assert kpi(page, "loyalty_balance") == str(loyalty["balance"])
    assert kpi(page, "loyalty_tier") == loyalty["tier"]
    assert kpi(page, "orders") == str(api["orders"]["orders"])
    assert float(kpi(page, "spend") or "nan") == pytest.approx(api["orders"]["spend"])
    row = page.locator("section[aria-labelledby=orders] tbody tr", has_text=customer["order_id"])
    assert row.count() == 1
    history = row.locator("td").last.inner_text()
    assert "placed" in history and "paid" in history and history.index("placed") < history.index("paid")
    offers = page.locator("[data-offers] li")
    items = api["recommendations"]["items"]
    assert offers.evaluate_all("rows => rows.map(r => r.dataset.product)") == [i["product_id"] for i in items]
    assert all(i["reason"] in o for i, o in zip(items, offers.all_inner_texts(), strict=True))
    look(page, "customer")


def test_a_sales_rep_opens_the_customer_page(
    sign_in: Callable[..., Page], http: httpx.Client, customer: dict[str, Any]
) -> None:
    page = sign_in("sales_rep")
    answer = page.goto(f"/ui/customers/{customer['id']}")
    assert answer is not None and answer.status == 200
    assert page.locator("[data-churn-drivers] li").count() >= 1
    assert kpi(page, "loyalty_balance") is not None


def test_a_planner_is_refused_the_customer_pages(sign_in: Callable[..., Page], customer: dict[str, Any]) -> None:
    page = sign_in("planner")
    for path in ("/ui/customers", f"/ui/customers/{customer['id']}", f"/ui/customers?q={customer['id']}"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 403, path
        assert "may not open this page" in page.inner_text("main"), path
        assert page.locator("[data-kpi]").count() == 0 and customer["id"] not in page.inner_text("main")


def test_marketing_sees_the_risk_but_not_the_orders_or_points(
    sign_in: Callable[..., Page], customer: dict[str, Any]
) -> None:
    """The page admits the profile's roles and, like the API, leaves out the sections a role's own endpoint refuses."""
    page = sign_in("marketing")
    page.goto(f"/ui/customers/{customer['id']}")
    assert kpi(page, "churn_band") is not None
    assert kpi(page, "loyalty_balance") is None and kpi(page, "orders") is None
    assert customer["order_id"] not in page.inner_text("main")
    assert "not shown to marketing keys" in page.inner_text("main")


def test_an_unknown_customer_is_a_404_page(sign_in: Callable[..., Page]) -> None:
    page = sign_in("sales_rep")
    answer = page.goto("/ui/customers/NOBODY-" + uuid.uuid4().hex[:8])
    assert answer is not None and answer.status == 404
    assert "unknown customer" in page.inner_text("main")
