"""The forecasts page: overrides made, edited and reverted in the page are the API's; roles; value added; finance."""

from __future__ import annotations

import csv
import html
import io
import random
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pandas as pd
import pytest


def _free_product(page: Any, http: httpx.Client, busiest: bool = False) -> str:
    """A product the page offers with no override in force (reruns on a reused workspace pick another); the busiest
    such product (the page lists the busiest first) when `busiest`."""
    page.goto("/ui/forecasts")
    offered = page.eval_on_selector_all("#f-products option", "els => els.map(e => e.value)")
    busy = {o["product_id"] for o in http.get("/forecast/overrides").json()}
    free = [p for p in offered if p not in busy]
    assert free, "every product the page offers has an override in force"
    return free[0] if busiest else random.choice(free)


def _points(http: httpx.Client, product: str) -> list[dict[str, Any]]:
    answer = http.get("/forecast", params={"product_id": product})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["points"])


def _kpi(page: Any, name: str) -> float:
    return float(page.get_attribute(f'[data-kpi="{name}"]', "data-value"))


def _listed(http: httpx.Client, product: str) -> dict[int, dict[str, Any]]:
    found = http.get("/forecast/overrides", params={"product_id": product, "include_closed": True}).json()
    return {o["id"]: o for o in found}


def test_an_override_made_edited_and_reverted_in_the_page_is_the_apis(
    sign_in: Callable[..., Any], http: httpx.Client, look: Callable[..., None]
) -> None:
    page = sign_in("planner")
    product = _free_product(page, http, busiest=True)  # a band to see in the screenshots
    points = _points(http, product)
    before = [p["adjusted"] for p in points]
    first, last = random.sample(range(len(points)), 2)
    first, last = min(first, last), max(first, last)
    reason = f"flyer promotion {uuid.uuid4().hex[:8]}"

    page.goto(f"/ui/forecasts?product_id={product}")
    page.click("text=New override")
    page.fill("#new-start", points[first]["ds"])
    page.fill("#new-end", points[last]["ds"])
    page.fill("#new-factor", "1.5")
    page.fill("#new-reason", reason)
    page.click("text=Save override")
    page.wait_for_load_state()
    assert "saved=" in page.url, page.inner_text("main")[:1500]

    made = [o for o in _listed(http, product).values() if o["reason"] == reason]
    assert len(made) == 1 and made[0]["factor"] == 1.5 and made[0]["reverted_at"] is None
    made_id = made[0]["id"]
    assert made[0]["key"]["name"] == "browser planner" and made[0]["author"] == "browser planner"
    after = [p["adjusted"] for p in _points(http, product)]
    expected = [p["p50"] * 1.5 if first <= i <= last else before[i] for i, p in enumerate(points)]
    assert after == pytest.approx(expected)
    assert _kpi(page, "adjusted_units") == pytest.approx(sum(after))
    assert page.locator(f'[data-override="{made_id}"] .badge').inner_text() == "in force"

    page.click(f"text=Edit #{made_id}")
    page.fill(f"#edit-{made_id}-factor", "")
    page.fill(f"#edit-{made_id}-value", "12.5")
    page.fill(f"#edit-{made_id}-reason", f"{reason}, in units")
    page.click("text=Save edit")
    page.wait_for_load_state()
    listed = _listed(http, product)
    old = listed[made_id]
    assert old["reverted_at"] is not None and [a["action"] for a in old["audit"]] == ["created", "edited"]
    new_id = next(i for i, o in listed.items() if o["reason"] == f"{reason}, in units")
    new = listed[new_id]
    assert new["value"] == 12.5 and new["reverted_at"] is None and new["replaced_override_id"] == made_id
    assert new["replaced_value"] == pytest.approx(sum(after[first : last + 1]))
    assert f'"edit_of": {made_id}' in new["audit"][0]["detail"]
    edited = [p["adjusted"] for p in _points(http, product)]
    assert edited == pytest.approx([12.5 if first <= i <= last else before[i] for i in range(len(points))])
    trail = page.locator(f'[data-override="{made_id}"] table.trail tbody tr').all_inner_texts()
    assert [row.split("\t")[1] for row in trail] == ["created", "edited"]
    assert f"edited into #{new_id}" in trail[1] and "factor 1.50" in trail[1] and "browser planner" in trail[1]
    look(page, "forecasts")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"text=Revert #{new_id}")
    page.wait_for_load_state()
    assert [p["adjusted"] for p in _points(http, product)] == pytest.approx(before)
    assert _listed(http, product)[new_id]["reverted_by"] == "browser planner"
    assert page.locator(f'[data-override="{new_id}"] .badge').inner_text() == "closed"
    assert _kpi(page, "adjusted_units") == pytest.approx(sum(before))


def test_bad_override_forms_are_refused_on_a_page_naming_field_and_value(
    sign_in: Callable[..., Any], http: httpx.Client
) -> None:
    page = sign_in("planner")
    product = _free_product(page, http)
    day = _points(http, product)[0]["ds"]
    csrf = page.get_attribute("form.signout input[name=csrf]", "value")
    form = {"csrf": csrf, "product_id": product, "start": day, "end": day, "reason": "test", "factor": "abc"}
    refused = page.request.post("/ui/forecasts/overrides", form=form)
    assert refused.status == 422 and "factor: not a number ('abc')" in html.unescape(refused.text())
    refused = page.request.post("/ui/forecasts/overrides", form=form | {"factor": "2", "value": "3"})
    assert refused.status == 422 and "give exactly one of value and factor" in html.unescape(refused.text())
    refused = page.request.post("/ui/forecasts/overrides", form=form | {"factor": "2", "start": "2026-13-45"})
    shown = html.unescape(refused.text())
    assert refused.status == 422 and "start:" in shown and "2026-13-45" in shown
    refused = page.request.post("/ui/forecasts/overrides", form=form | {"factor": "2", "product_id": "NO-SUCH"})
    assert refused.status == 404 and "product_id: unknown product ('NO-SUCH')" in html.unescape(refused.text())
    refused = page.request.post("/ui/forecasts/overrides/99999999/revert", form={"csrf": csrf, "product_id": product})
    assert refused.status == 404 and "override_id: unknown override (99999999)" in html.unescape(refused.text())
    assert "Traceback" not in html.unescape(refused.text())
    assert not [o for o in _listed(http, product).values() if o["reason"] == "test"], "nothing was stored"


def test_a_marketing_key_sees_the_forecasts_but_no_override_form(
    sign_in: Callable[..., Any], http: httpx.Client
) -> None:
    page = sign_in("marketing")
    answer = page.goto("/ui/forecasts")
    assert answer is not None and answer.status == 200
    assert page.locator("#forecast-chart").count() == 1 and page.locator("[data-kpi=p50_units]").count() == 1
    assert page.locator("form.override-form").count() == 0 and page.locator("text=Revert #").count() == 0
    assert "planners and admins make them" in page.inner_text("#overrides")
    product = page.input_value("#f-product")
    day = _points(http, product)[0]["ds"]
    csrf = page.get_attribute("form.signout input[name=csrf]", "value")
    form = {"csrf": csrf, "product_id": product, "start": day, "end": day, "reason": "no", "factor": "2"}
    assert page.request.post("/ui/forecasts/overrides", form=form).status == 403
    assert sign_in("sales_rep").goto("/ui/forecasts").status == 403


def test_value_added_tile_is_the_accuracy_apis(sign_in: Callable[..., Any], http: httpx.Client, built: Any) -> None:
    """A forecast stored two weeks back and an override on those days: the page's tile is GET /forecast/accuracy's."""
    from training import run

    page = sign_in("admin")
    product = _free_product(page, http, busiest=True)
    end = pd.Timestamp(built.ws.read_meta()["data_end"]).floor("D")
    since = end - pd.Timedelta(days=14)
    stored = run.predict("demand", built.ws, built.settings, as_of=since, options={"products": [product]})
    days = sorted(stored["ds"].dt.strftime("%Y-%m-%d").unique())
    made = http.post(
        "/forecast/overrides",
        json={"product_id": product, "start": days[0], "end": days[6], "factor": 3, "reason": "fva", "author": "t"},
    )
    assert made.status_code == 201, made.text
    try:
        judged = http.get("/forecast/accuracy", params={"since": f"{since:%Y-%m-%d}"}).json()
        page.goto(f"/ui/forecasts?product_id={product}&since={since:%Y-%m-%d}")
        tile = page.locator('[data-kpi="forecast_value_added"]')
        assert tile.get_attribute("data-value"), page.inner_text("main")[:3000]
        assert _kpi(page, "forecast_value_added") == pytest.approx(judged["overall"]["value_added"])
        assert _kpi(page, "model_wape") == pytest.approx(judged["overall"]["model_wape"])
        assert _kpi(page, "adjusted_wape") == pytest.approx(judged["overall"]["adjusted_wape"])
        assert judged["overall"]["value_added"] != 0, "tripling a week of one product changes the adjusted error"
        page.select_option("#f-category", judged["by_category"][0]["key"])
        page.click("text=Show")
        page.wait_for_load_state()
        tile = float(page.get_attribute('[data-kpi="category_value_added"]', "data-value"))
        assert tile == pytest.approx(judged["by_category"][0]["value_added"])
    finally:
        http.delete(f"/forecast/overrides/{made.json()['id']}", params={"author": "t"})
    page.goto(f"/ui/forecasts?product_id={product}&since={end:%Y-%m-%d}")
    assert page.get_attribute('[data-kpi="forecast_value_added"]', "data-value") == ""
    assert "is not before the end of the data" in " ".join(page.locator("main .missing").all_inner_texts())


def test_revenue_by_category_and_month_sorts_pages_and_exports_every_row(
    sign_in: Callable[..., Any], http: httpx.Client
) -> None:
    page = sign_in("planner")
    page.goto("/ui/forecasts")
    exported = page.request.get("/ui/forecasts/revenue.csv")
    assert exported.status == 200 and "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text())))
    assert rows and set(rows[0]) == {"category", "month", "revenue_p10", "revenue_p50", "revenue_p90"}
    assert all(float(r["revenue_p10"]) <= float(r["revenue_p50"]) <= float(r["revenue_p90"]) for r in rows)
    product = page.input_value("#f-product")
    category = page.eval_on_selector("#f-category", "s => s.value")  # "" (all) on the first visit
    assert category == ""
    months = {r["month"] for r in rows}
    first = _points(http, product)[0]["ds"][:7]
    assert first in months, "the forecast's first month is in the table"
    total = sum(float(r["revenue_p50"]) for r in rows)
    page.goto("/ui/forecasts?revenue_sort=-revenue_p50")
    cells = page.locator("table:has(caption:text('Forecast revenue')) tbody tr td.num:nth-child(4)")
    shown = [float(c.replace(",", "")) for c in cells.all_inner_texts()]
    assert shown == sorted(shown, reverse=True) and shown[0] == max(float(r["revenue_p50"]) for r in rows)
    assert total > 0
    chosen = rows[0]["category"]
    page.select_option("#f-category", chosen)
    page.click("text=Show")
    page.wait_for_load_state()
    assert re.search(r"category=", page.url)
    one = list(csv.DictReader(io.StringIO(page.request.get(page.get_attribute("a.csv", "href")).text())))
    assert one and {r["category"] for r in one} == {chosen}
    assert len(one) == len([r for r in rows if r["category"] == chosen])
