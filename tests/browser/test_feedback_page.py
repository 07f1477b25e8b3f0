"""The feedback page: priority order, filters, resolving with a note (stored, audited, in the API), CSRF and roles."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

NEGATIVE = "Terrible {}, would not buy again. Waste of money. Ref {}"
POSITIVE = "Love this {}! Great value for money, highly recommend. Ref {}"


def post(http: httpx.Client, text: str, rating: int, product_id: str, customer_id: str = "C00002") -> dict[str, Any]:
    sent = {"customer_id": customer_id, "product_id": product_id, "rating": rating, "text": text}
    answer = http.post("/v1/feedback", json=sent)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def made(http: httpx.Client, built: Any, product_id: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A negative (1 star) and a newer positive (5 stars) item about `product_id`, with a fresh tag; the tag.

    The workspace's quickly trained sentiment model may read either text either way, so the labels are set here."""
    from retail import db
    from serving.commerce.tables import Feedback

    tag = uuid.uuid4().hex[:10]
    bad = post(http, NEGATIVE.format("mug", tag), 1, product_id)
    good = post(http, POSITIVE.format("mug", tag), 5, product_id, "C00003")
    with Session(db.engine(built.ws, built.settings)) as s, s.begin():
        for item, label, score in ((bad, "negative", 0.05), (good, "positive", 0.95)):
            s.execute(update(Feedback).where(Feedback.id == item["id"]).values(label=label, score=score))
            item |= {"label": label, "score": score}
    return bad, good, tag


def shown_ids(page: Any) -> list[int]:
    return [
        int(i) for i in page.locator("tr[data-feedback-id]").evaluate_all("rs => rs.map(r => r.dataset.feedbackId)")
    ]


def audit_entries(built: Any, feedback_id: int) -> int:
    from retail import db
    from training.demand.tables import AuditEntry

    with Session(db.engine(built.ws, built.settings)) as s:
        query = select(func.count()).where(AuditEntry.entity == "feedback", AuditEntry.entity_id == str(feedback_id))
        return int(s.scalar(query) or 0)


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_priority_puts_negative_first_and_filters_narrow_the_list(
    sign_in: Callable[..., Any], http: httpx.Client, built: Any, look: Callable[[Any, str], None]
) -> None:
    bad, good, _ = made(http, built, "P0007")
    page = sign_in("sales_rep")
    page.goto("/ui/feedback")
    assert page.get_by_role("heading", name="Feedback", exact=True).is_visible()
    page.select_option("#f-sort", "priority")
    page.fill("#f-product", "P0007")
    page.fill("#f-since", today())
    page.fill("#f-until", today())
    page.click("text=Apply")
    page.wait_for_load_state()
    assert "sort=priority" in page.url and "product_id=P0007" in page.url
    ids = shown_ids(page)
    assert bad["id"] in ids and good["id"] in ids
    assert ids.index(bad["id"]) < ids.index(good["id"])  # negative first, though newer feedback is the positive
    params = {"sort": "priority", "product_id": "P0007", "status": "open", "since": f"{today()}T00:00:00"}
    api = http.get("/v1/feedback", params=params).json()
    listed = [f["id"] for f in api if f["id"] in ids]
    assert listed == ids  # the page's order is the API's
    labels = page.locator("tr[data-feedback-id] td:nth-child(6)").all_inner_texts()
    assert labels == sorted(labels, key=lambda t: {"negative": 0, "unscored": 1}.get(t.strip(), 2))
    look(page, "feedback")
    assert page.locator("#sentiment-weeks[data-drawn='1']").count() == 1  # the weekly chart was drawn

    page.select_option("#f-sentiment", "negative")
    page.click("text=Apply")
    page.wait_for_load_state()
    ids = shown_ids(page)
    assert bad["id"] in ids and good["id"] not in ids
    page.select_option("#f-sentiment", "")
    page.select_option("#f-rating", "5")
    page.click("text=Apply")
    page.wait_for_load_state()
    ids = shown_ids(page)
    assert good["id"] in ids and bad["id"] not in ids
    page.select_option("#f-rating", "")
    page.fill("#f-product", "P0008")
    page.click("text=Apply")
    page.wait_for_load_state()
    assert not {bad["id"], good["id"]} & set(shown_ids(page))
    page.fill("#f-product", "P0007")
    page.fill("#f-since", "2001-01-01")
    page.fill("#f-until", "2001-01-31")
    page.click("text=Apply")
    page.wait_for_load_state()
    assert shown_ids(page) == [] and "No feedback matches" in page.inner_text("table.feedback")
    csv = page.request.get(f"/ui/feedback.csv?product_id=P0007&since={today()}&status=all")
    assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
    rows = csv.text().splitlines()
    assert rows[0].startswith("id,created,") and {str(bad["id"]), str(good["id"])} <= {r.split(",")[0] for r in rows}
    unknown = page.goto("/ui/feedback?product_id=P9999999")
    assert unknown is not None and unknown.status == 404 and "unknown product 'P9999999'" in page.inner_text("main")


def test_resolving_from_the_page_shows_in_the_api_and_is_audited_once(
    sign_in: Callable[..., Any], http: httpx.Client, built: Any, look: Callable[[Any, str], None]
) -> None:
    bad, _, tag = made(http, built, "P0011")
    page = sign_in("sales_rep")
    page.goto(f"/ui/feedback?product_id=P0011&since={today()}")
    page.click(f"a[href='/ui/feedback/{bad['id']}']")
    page.wait_for_load_state()
    assert page.url.endswith(f"/ui/feedback/{bad['id']}") and tag in page.inner_text("blockquote")
    page.fill("#note", "   ")  # passes the browser's `required`; the server refuses it
    page.click("text=Mark resolved")
    page.wait_for_load_state()
    assert "note:" in page.inner_text("[role=alert]") and "blank" in page.inner_text("[role=alert]")
    assert audit_entries(built, bad["id"]) == 0
    look(page, "feedback-item-error")
    note = f"Called the customer and sent a new mug ({tag})."
    page.fill("#note", note)
    page.click("text=Mark resolved")
    page.wait_for_load_state()
    assert re.search(rf"/ui/feedback/{bad['id']}\?resolved=now$", page.url)  # POST, then redirect, then GET
    assert page.inner_text("[role=status]") == "Resolved." and note in page.inner_text(".note-text")
    look(page, "feedback-item")
    found = http.get("/v1/feedback", params={"product_id": "P0011", "status": "resolved"}).json()
    [mine] = [f for f in found if f["id"] == bad["id"]]
    assert mine["resolution_note"] == note and mine["resolved_by"] == "browser sales_rep" and mine["resolved_at"]
    assert audit_entries(built, bad["id"]) == 1
    assert page.locator("tr[data-audit]").count() == 1 and note in page.inner_text("tr[data-audit]")
    csrf = page.locator("form.signout input[name=csrf]").get_attribute("value")
    again = page.request.post(f"/ui/feedback/{bad['id']}/resolve", form={"csrf": csrf or "", "note": "Twice."})
    assert again.ok and "already resolved" in again.text()
    assert audit_entries(built, bad["id"]) == 1
    assert http.post(f"/v1/feedback/{bad['id']}/resolve", json={"note": "API"}).json() == mine
    open_ids = [f["id"] for f in http.get("/v1/feedback", params={"product_id": "P0011", "status": "open"}).json()]
    assert bad["id"] not in open_ids


def test_a_resolve_form_without_csrf_is_refused_and_resolves_nothing(
    sign_in: Callable[..., Any], http: httpx.Client, built: Any
) -> None:
    bad, _, _ = made(http, built, "P0013")
    page = sign_in("admin")
    for form in ({"note": "sneaky"}, {"note": "sneaky", "csrf": "not-the-token"}):
        refused = page.request.post(f"/ui/feedback/{bad['id']}/resolve", form=form, max_redirects=0)
        assert refused.status == 403, form
    assert audit_entries(built, bad["id"]) == 0
    still = http.get("/v1/feedback", params={"product_id": "P0013", "status": "open"}).json()
    assert bad["id"] in [f["id"] for f in still]


def test_a_planner_is_refused_the_feedback_page_and_marketing_may_read_but_not_resolve(
    sign_in: Callable[..., Any], http: httpx.Client, built: Any
) -> None:
    bad, _, _ = made(http, built, "P0017")
    planner = sign_in("planner")
    answer = planner.goto("/ui/feedback")
    assert answer is not None and answer.status == 403 and "may not" in planner.inner_text("main")
    csrf = planner.locator("form.signout input[name=csrf]").get_attribute("value") or ""
    refused = planner.request.post(f"/ui/feedback/{bad['id']}/resolve", form={"csrf": csrf, "note": "x"})
    assert refused.status == 403
    marketing = sign_in("marketing")
    marketing.goto(f"/ui/feedback/{bad['id']}")
    assert (
        "may read feedback but not resolve" in marketing.inner_text("main") and marketing.locator("#note").count() == 0
    )
    csrf = marketing.locator("form.signout input[name=csrf]").get_attribute("value") or ""
    refused = marketing.request.post(f"/ui/feedback/{bad['id']}/resolve", form={"csrf": csrf, "note": "x"})
    assert refused.status == 403 and audit_entries(built, bad["id"]) == 0
