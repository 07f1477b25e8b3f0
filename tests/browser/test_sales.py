"""The sales page: KPI tiles equal `/v1/reports/sales`, filters change the charts, CSV exports, roles, live counts."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx

KPIS = (
    "revenue",
    "orders",
    "average_order_value",
    "units",
    "cancellation_rate",
    "return_rate",
    "fulfilment_hours",
    "repeat_purchase_rate",
)


def tiles(page: Any) -> dict[str, str]:
    cells = page.locator("[data-kpi]").all()
    return {c.get_attribute("data-kpi"): c.get_attribute("data-value") for c in cells}


def same(tile: dict[str, str], total: dict[str, Any]) -> None:
    """Every tile's raw value is the API's total (an empty value where the API has null)."""
    assert set(tile) == set(KPIS)
    for name in KPIS:
        expected = total[name]
        assert (tile[name] == "") if expected is None else float(tile[name]) == expected, (name, tile[name], expected)


def window(built: Any) -> tuple[str, str]:
    """The imported history's last 28 days up to today (API orders placed by the tests are dated today)."""
    history_end = built.ws.read_transactions(["ts"])["ts"].max().date()
    return str(history_end - timedelta(days=27)), str(date.today())


def chart(page: Any, name: str) -> Any:
    return json.loads(page.locator(f'script[data-chart="chart-{name}"]').text_content())


def paid_order(http: httpx.Client, store_id: str, channel: str, fulfilment: str) -> str:
    """An order paid through the API now, at a product the store has in stock."""
    stock = None
    for product in ("P0001", "P0002", "P0003", "P0004", "P0005", "P0006", "P0007", "P0008"):
        found = http.get(f"/v1/products/{product}/availability").json()
        for s in found.get("stores", []):
            if s.get("store_id") == store_id and s.get("available", 0) > 0:
                stock = product
        if stock:
            break
    assert stock, f"no stock at {store_id} for the test order"
    body = {
        "customer_id": "C00001",
        "channel": channel,
        "fulfilment": fulfilment,
        "store_id": store_id,
        "lines": [{"product_id": stock, "quantity": 1}],
    }
    placed = http.post("/v1/orders", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    assert http.post(f"/v1/orders/{order_id}/status", json={"status": "paid"}).status_code == 200
    return str(order_id)


def test_kpi_tiles_equal_the_api_for_the_same_range_and_filter(
    sign_in: Callable[..., Any], http: httpx.Client, look: Callable[..., None], built: Any
) -> None:
    paid_order(http, "S01", "store", "in_store")  # today: an API order beside the imported history
    page = sign_in("admin")
    page.goto("/ui/sales")
    start, end = page.input_value("#from"), page.input_value("#to")
    assert date.fromisoformat(end) - date.fromisoformat(start) == timedelta(days=27), "the last 28 days by default"
    start, end = window(built)
    page.goto(f"/ui/sales?from={start}&to={end}")
    report = http.get("/v1/reports/sales", params={"from": start, "to": end}).json()
    same(tiles(page), report["total"])
    assert report["total"]["api_orders"] >= 1 and report["total"]["history_orders"] >= 1, "both sources count"
    before = chart(page, "trend")
    page.select_option("#store_id", "S01")
    page.select_option("#by", "week")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "store_id=S01" in page.url and "by=week" in page.url
    filtered = http.get("/v1/reports/sales", params={"from": start, "to": end, "store_id": "S01", "by": "week"}).json()
    same(tiles(page), filtered["total"])
    assert filtered["total"]["revenue"] < report["total"]["revenue"]
    after = chart(page, "trend")
    assert after["data"] != before["data"], "another store and grouping draw another chart"
    assert after["data"][0]["x"] != before["data"][0]["x"], "weeks, not days"
    assert chart(page, "stores")["data"][0]["x"] == ["S01"]
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    days = (last - first).days + 1
    prior = {"from": str(first - timedelta(days=days)), "to": str(first - timedelta(days=1)), "store_id": "S01"}
    earlier = http.get("/v1/reports/sales", params=prior).json()["total"]["revenue"]
    note = page.locator('[data-kpi="revenue"] .kpi-note').inner_text()
    assert note.startswith(f"Previous: {earlier:,.2f}"), (note, earlier)
    assert page.locator("[data-chart]").count() == 4 and page.locator("div.chart-box[data-drawn]").count() == 4
    look(page, "sales")


def test_every_table_has_a_csv_of_all_its_rows(sign_in: Callable[..., Any], http: httpx.Client, built: Any) -> None:
    page = sign_in("admin")
    start, end = window(built)
    page.goto(f"/ui/sales?from={start}&to={end}")
    links = page.locator("caption a.csv")
    assert links.count() == 5
    report = http.get("/v1/reports/sales", params={"from": start, "to": end}).json()
    for i in range(links.count()):
        href = links.nth(i).get_attribute("href")
        answer = page.request.get(href)
        assert answer.status == 200 and answer.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(answer.text())))
        caption = links.nth(i).locator("xpath=..").inner_text()
        assert f"({len(rows)} row" in caption, (href, len(rows), caption)
        if "/periods.csv" in href:
            assert [r["key"] for r in rows] == [r["key"] for r in report["rows"]]
            assert [float(r["revenue"]) for r in rows] == [r["revenue"] for r in report["rows"]]
        if "/products.csv" in href:
            assert len(rows) > 25, "every product sold, not one page of them"
    products = page.locator("table", has=page.locator("caption", has_text="Top products"))
    first_page = products.locator("tbody tr td").first.inner_text()
    page.locator('nav[aria-label="Top products pages"] a', has_text="Next").click()
    page.wait_for_load_state()
    assert "products_page=2" in page.url
    assert products.locator("tbody tr td").first.inner_text() != first_page


def test_open_orders_refresh_without_a_reload(sign_in: Callable[..., Any], http: httpx.Client) -> None:
    page = sign_in("admin")
    page.goto("/ui/sales")
    counts = page.request.get("/ui/sales/live").json()
    shown = int(page.locator('[data-live="paid"]').inner_text())
    assert shown == counts["paid"]
    paid_order(http, "S00", "web", "ship")
    page.evaluate("document.querySelector('[data-refresh-url]').dataset.refreshSeconds = '1'")
    page.evaluate("refreshLive()")  # a one-second refresh on top of the page's own
    page.wait_for_function(f"document.querySelector('[data-live=\"paid\"]').textContent === '{shown + 1}'")
    assert page.url.endswith("/ui/sales"), "no reload"


def test_a_planner_may_open_it_a_sales_rep_may_not(sign_in: Callable[..., Any], base_url: str) -> None:
    planner = sign_in("planner")
    answer = planner.goto("/ui/sales")
    assert answer is not None and answer.status == 200 and planner.locator("[data-kpi]").count() == len(KPIS)
    rep = sign_in("sales_rep")
    for path in ("/ui/sales", "/ui/sales/live", "/ui/sales/products.csv"):
        refused = rep.request.get(path)
        assert refused.status == 403, path
    assert httpx.get(f"{base_url}/ui/sales/live", follow_redirects=False).status_code == 303, "no session: sign in"


def test_bad_input_names_the_field(sign_in: Callable[..., Any]) -> None:
    page = sign_in("admin")
    answer = page.goto("/ui/sales?from=2026-02-30")
    assert answer is not None and answer.status == 422 and "from" in page.inner_text("main")
    answer = page.goto("/ui/sales?from=2026-03-01&to=2026-02-01")
    assert answer is not None and answer.status == 422 and "before" in page.inner_text("main")
