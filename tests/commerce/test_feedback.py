"""Feedback: stored, validated, scored at once or later in batch, listed with filters and by priority."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from modelstubs import StubRuntime, StubScorer
from shopdata import key, order_in, stock_shop
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from retail import db
from retail.db import connect
from retail.settings import get_settings
from retail.workspace import Workspace
from serving import auth
from serving.commerce import feedback, feedback_resolution, feedback_trend, orders
from serving.commerce.errors import Invalid, NotFound
from serving.commerce.feedback import FeedbackIn
from serving.commerce.tables import Feedback
from training.demand.tables import AuditEntry


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    auth.forget()
    yield stock_shop(connect(db_url))
    auth.forget()


def body(text: str = "nice", **kwargs: Any) -> FeedbackIn:
    return FeedbackIn.model_validate({"customer_id": "C1", "text": text} | kwargs)


def paid_order(engine: Engine, key: str, customer_id: str, lines: list[tuple[str, int]]) -> str:
    order, _ = orders.place_order(engine, key, order_in(customer_id=customer_id, lines=lines))
    orders.set_status(engine, order.order_id, "paid")
    return order.order_id


def backdate(engine: Engine, feedback_id: int, at: datetime) -> None:
    with Session(engine) as s, s.begin():
        s.execute(update(Feedback).where(Feedback.id == feedback_id).values(created_at=at))


def test_feedback_is_stored_and_scored_at_once(shop: Engine) -> None:
    order_id = paid_order(shop, "k1", "C1", [("P1", 1)])
    scorer = StubScorer()
    out = feedback.create(shop, body("bad zip", order_id=order_id, product_id="P1", rating=2), scorer)
    assert (out.label, out.score, out.model_version, out.rating) == ("negative", 0.1, "9", 2)
    assert out.order_id == order_id and out.product_id == "P1" and out.created_at.tzinfo is not None
    assert feedback.list_feedback(shop) == [out]


def test_without_a_working_model_feedback_is_stored_unscored_and_scored_later(shop: Engine) -> None:
    first = feedback.create(shop, body("bad fit"))
    second = feedback.create(shop, body("lovely"), StubScorer(fail=True))
    assert first.label is None and second.label is None and second.model_version is None
    scorer = StubScorer()
    assert feedback.score_pending(shop, scorer, batch=1) == 2 and scorer.seen == 2
    assert feedback.score_pending(shop, scorer) == 0 and scorer.seen == 2  # nothing left to score
    labels = {f.text: (f.label, f.model_version) for f in feedback.list_feedback(shop)}
    assert labels == {"bad fit": ("negative", "9"), "lovely": ("positive", "9")}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"customer_id": "C9"}, "customer_id: unknown customer 'C9'"),
        ({"order_id": "O404"}, "order_id: unknown order 'O404'"),
        ({"product_id": "P9"}, "product_id: unknown product 'P9'"),
    ],
)
def test_unknown_references_are_refused_naming_the_field(shop: Engine, fields: dict[str, str], message: str) -> None:
    with pytest.raises(Invalid) as info:
        feedback.create(shop, body(**fields), StubScorer())
    assert info.value.message == message
    assert feedback.list_feedback(shop) == []


def test_an_order_of_another_customer_is_refused(shop: Engine) -> None:
    order_id = paid_order(shop, "k2", "C2", [("P2", 1)])
    with pytest.raises(Invalid, match=f"order_id: order '{order_id}' is not an order of customer 'C1'"):
        feedback.create(shop, body(order_id=order_id))


def test_list_filters_and_newest_first(shop: Engine) -> None:
    scorer = StubScorer()
    old = feedback.create(shop, body("bad P1", product_id="P1"), scorer)
    mid = feedback.create(shop, body("good P2", product_id="P2", customer_id="C2"), scorer)
    new = feedback.create(shop, body("good P1", product_id="P1"), scorer)
    now = datetime(2026, 3, 1)
    for row, days in ((old, 10), (mid, 5), (new, 1)):
        backdate(shop, row.id, now - timedelta(days=days))
    ids = lambda **kw: [f.id for f in feedback.list_feedback(shop, **kw)]  # noqa: E731
    assert ids() == [new.id, mid.id, old.id]
    assert ids(product_id="P1") == [new.id, old.id]
    assert ids(customer_id="C2") == [mid.id]
    assert ids(sentiment="negative") == [old.id]
    assert ids(sentiment="positive", product_id="P1") == [new.id]
    assert ids(since=now - timedelta(days=6)) == [new.id, mid.id]
    assert ids(limit=1) == [new.id]


def test_priority_puts_negative_feedback_of_high_value_customers_first(shop: Engine) -> None:
    paid_order(shop, "a", "C2", [("P1", 3)])  # C2 has paid 30.00
    paid_order(shop, "b", "C1", [("P2", 1)])  # C1 has paid 2.50
    scorer = StubScorer()
    c1_bad = feedback.create(shop, body("bad C1"), scorer)
    c2_good = feedback.create(shop, body("good C2", customer_id="C2"), scorer)
    unscored = feedback.create(shop, body("meh C1"))
    c2_bad = feedback.create(shop, body("bad C2", customer_id="C2"), scorer)
    ranked = feedback.list_feedback(shop, sort="priority")
    assert [f.id for f in ranked] == [c2_bad.id, c1_bad.id, unscored.id, c2_good.id]
    assert [f.customer_spend for f in ranked] == [30.0, 2.5, 2.5, 30.0]
    assert [f.id for f in feedback.list_feedback(shop, sort="priority", sentiment="negative", limit=1)] == [c2_bad.id]


# --- over HTTP ------------------------------------------------------------------------------------------------


def test_post_feedback_roles_and_validation(client: TestClient, shop: Engine) -> None:
    mine = key(shop, "customer", customer_id="C1")
    created = client.post("/v1/feedback", json={"customer_id": "C1", "text": "bad seams", "rating": 1}, headers=mine)
    assert created.status_code == 201, created.text
    assert created.json()["label"] is None and created.json()["rating"] == 1  # no runtime: stored unscored
    assert client.post("/v1/feedback", json={"customer_id": "C2", "text": "x"}, headers=mine).status_code == 403
    for role, binding in (("store", {"store_id": "S1"}), ("sales_rep", {}), ("ops", {})):
        sent = client.post("/v1/feedback", json={"customer_id": "C2", "text": "ok"}, headers=key(shop, role, **binding))
        assert sent.status_code == 201, (role, sent.text)
    for role in ("marketing", "planner", "app"):
        assert (
            client.post("/v1/feedback", json={"customer_id": "C1", "text": "x"}, headers=key(shop, role)).status_code
            == 403
        )
    admin = key(shop, "admin")
    bad = [
        ({"customer_id": "C1", "text": ""}, "text"),
        ({"customer_id": "C1", "text": "   "}, "text"),
        ({"customer_id": "C1", "text": "x" * 5001}, "text"),
        ({"customer_id": "C1", "text": "x", "rating": 6}, "rating"),
        ({"customer_id": "C1", "text": "x", "colour": "red"}, "colour"),
    ]
    for sent, field in bad:
        answer = client.post("/v1/feedback", json=sent, headers=admin)
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"][-1] == field, answer.text
    unknown = client.post("/v1/feedback", json={"customer_id": "C1", "product_id": "P9", "text": "x"}, headers=admin)
    assert unknown.status_code == 422 and unknown.json() == {"detail": "product_id: unknown product 'P9'"}
    assert client.post("/v1/feedback", json={"customer_id": "C1", "text": "x" * 5000}, headers=admin).status_code == 201


def test_post_feedback_is_scored_by_the_runtime_s_sentiment_model(client: TestClient, shop: Engine) -> None:
    client.app.state.runtime = StubRuntime(sentiment=StubScorer())  # type: ignore[attr-defined]
    answer = client.post("/v1/feedback", json={"customer_id": "C1", "text": "bad"}, headers=key(shop, "admin"))
    assert answer.status_code == 201 and answer.json()["label"] == "negative" and answer.json()["model_version"] == "9"
    client.app.state.runtime = StubRuntime()  # type: ignore[attr-defined]  # no sentiment model: unscored
    answer = client.post("/v1/feedback", json={"customer_id": "C1", "text": "bad"}, headers=key(shop, "admin"))
    assert answer.status_code == 201 and answer.json()["label"] is None


def test_get_feedback_roles_filters_and_priority(client: TestClient, shop: Engine) -> None:
    paid_order(shop, "a", "C2", [("P1", 3)])
    scorer = StubScorer()
    feedback.create(shop, body("good C1"), scorer)
    bad = feedback.create(shop, body("bad C2", customer_id="C2", product_id="P1"), scorer)
    for role in ("admin", "ops", "sales_rep", "marketing"):
        assert client.get("/v1/feedback", headers=key(shop, role)).status_code == 200, role
    for role, binding in (("customer", {"customer_id": "C1"}), ("store", {"store_id": "S1"}), ("app", {})):
        assert client.get("/v1/feedback", headers=key(shop, role, **binding)).status_code == 403, role
    marketing = key(shop, "marketing")
    listed = client.get("/v1/feedback", params={"sort": "priority"}, headers=marketing).json()
    assert [f["id"] for f in listed][0] == bad.id and listed[0]["customer_spend"] == 30.0
    only = client.get("/v1/feedback", params={"product_id": "P1", "sentiment": "negative"}, headers=marketing).json()
    assert [f["id"] for f in only] == [bad.id]
    since = client.get("/v1/feedback", params={"since": "2100-01-01T00:00:00+02:00"}, headers=marketing)
    assert since.status_code == 200 and since.json() == []
    for params, detail in (({"customer_id": "C9"}, "customer 'C9'"), ({"product_id": "P9"}, "product 'P9'")):
        unknown = client.get("/v1/feedback", params=params, headers=marketing)
        assert unknown.status_code == 404 and detail in unknown.json()["detail"]
    refused = ({"sentiment": "neutral"}, {"sort": "oldest"}, {"limit": 0}, {"since": "yesterday"}, {"since": "7374"})
    for params in (*refused, {"x": "1"}):  # a bare number is no time (pydantic would read Unix seconds)
        assert client.get("/v1/feedback", params=params, headers=marketing).status_code == 422, params


def test_retail_feedback_score_scores_what_was_stored_unscored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command loads the alias' sentiment model through the family and scores every pending row once."""
    from typer.testing import CliRunner

    from retail.cli import app
    from training import families, run

    monkeypatch.delenv("RETAIL_DATABASE_URL", raising=False)
    engine = stock_shop(db.engine(Workspace.at(tmp_path), get_settings(workspace=tmp_path)))
    feedback.create(engine, body("bad box"))
    feedback.create(engine, body("great"))
    monkeypatch.setattr(run, "load", lambda ws, settings, name, alias: (None, "9"))
    monkeypatch.setattr(families, "family", lambda name: SimpleNamespace(adapter=lambda m, v, ws: StubScorer()))
    result = CliRunner().invoke(app, ["feedback", "score", "--workspace", str(tmp_path)])
    assert result.exit_code == 0 and "scored 2 feedback rows with sentiment version 9" in result.output, result.output
    assert {f.label for f in feedback.list_feedback(engine)} == {"negative", "positive"}


# --- scoring: after the references are checked, through the batcher or a bounded pool ---------------------------


@pytest.mark.parametrize(
    "fields", [{"product_id": "P9"}, {"customer_id": "C9"}, {"order_id": "O404"}], ids=["product", "customer", "order"]
)
def test_a_request_with_an_unknown_reference_never_calls_the_scorer(
    client: TestClient, shop: Engine, fields: dict[str, str]
) -> None:
    scorer = StubScorer()
    client.app.state.runtime = StubRuntime(sentiment=scorer)  # type: ignore[attr-defined]
    sent = {"customer_id": "C1", "text": "bad"} | fields
    answer = client.post("/v1/feedback", json=sent, headers=key(shop, "admin"))
    assert answer.status_code == 422 and answer.json()["detail"].startswith(next(iter(fields))), answer.text
    assert scorer.seen == 0  # refused before any model call
    with pytest.raises(Invalid):
        feedback.create(shop, body(**fields), scorer)
    assert scorer.seen == 0


class Gate(StubScorer):
    """A scorer that holds every call until released, counting how many run at once."""

    def __init__(self) -> None:
        super().__init__()
        self.active = self.peak = 0
        self.lock = threading.Lock()
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    def score(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        self.entered.release()
        self.release.wait(60)
        with self.lock:
            self.active -= 1
            return super().score(texts)


def test_concurrent_posts_never_run_more_scorings_than_the_bound(client: TestClient, shop: Engine) -> None:
    gate = Gate()
    client.app.state.runtime = StubRuntime(sentiment=gate)  # type: ignore[attr-defined]
    headers = key(shop, "admin")
    posts = 3 * feedback.SCORING_SLOTS
    with ThreadPoolExecutor(posts) as pool:
        sent = [
            pool.submit(client.post, "/v1/feedback", json={"customer_id": "C1", "text": f"bad {i}"}, headers=headers)
            for i in range(posts)
        ]
        try:
            for _ in range(feedback.SCORING_SLOTS):
                assert gate.entered.acquire(timeout=60)
            time.sleep(0.5)  # room for a scoring beyond the bound to start (none may): no assertion on time
            assert gate.peak == feedback.SCORING_SLOTS
        finally:
            gate.release.set()
        answers = [f.result() for f in sent]
    assert [a.status_code for a in answers] == [201] * posts
    assert all(a.json()["label"] == "negative" for a in answers) and gate.seen == posts
    assert gate.peak == feedback.SCORING_SLOTS


def test_busy_slots_leave_feedback_unscored(shop: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A post that finds no free slot in time is stored unscored (scored later), not held or failed."""
    monkeypatch.setattr(feedback, "_slots", threading.BoundedSemaphore(1))
    monkeypatch.setattr(feedback, "SLOT_WAIT_S", 0.01)
    feedback._slots.acquire()  # the only slot is taken
    try:
        out = feedback.create(shop, body("bad"), feedback.InProcess(StubScorer()))
    finally:
        feedback._slots.release()
    assert out.label is None and out.model_version is None
    assert feedback.create(shop, body("bad"), feedback.InProcess(StubScorer())).label == "negative"


def test_the_batcher_scores_feedback_and_a_broken_call_is_scored_in_process(shop: Engine) -> None:
    """In the Bento feedback goes through the sentiment batcher (P(positive) per text, labelled at the model's
    threshold); when a call to it fails, the adapter scores in process."""
    adapter = StubScorer()
    adapter.inner = SimpleNamespace(threshold=0.6)  # type: ignore[attr-defined]
    asked: list[list[str]] = []

    def classify(texts: list[str]) -> list[float]:
        asked.append(texts)
        return [0.55]

    remote = SimpleNamespace(to_sync=SimpleNamespace(classify=classify))
    out = feedback.create(shop, body("lovely"), feedback.Batched(adapter, remote))
    assert (out.label, out.score, out.model_version) == ("negative", 0.55, "9") and asked == [["lovely"]]
    assert adapter.seen == 0  # the batcher scored it, not this process

    def dropped(texts: list[str]) -> list[float]:
        raise ConnectionError("Server disconnected")

    broken = SimpleNamespace(to_sync=SimpleNamespace(classify=dropped))
    out = feedback.create(shop, body("lovely"), feedback.Batched(adapter, broken))
    assert (out.label, out.score) == ("positive", 0.9) and adapter.seen == 1


# --- resolving: stored, audited, idempotent; filters by rating, time range and status ---------------------------


def audit(engine: Engine, feedback_id: int) -> list[AuditEntry]:
    with Session(engine) as s:
        query = select(AuditEntry).where(AuditEntry.entity == "feedback", AuditEntry.entity_id == str(feedback_id))
        return list(s.scalars(query))


def test_resolving_is_stored_audited_once_and_the_first_resolution_stands(shop: Engine) -> None:
    item = feedback.create(shop, body("the zip broke"), StubScorer())
    assert (item.resolved_at, item.resolved_by, item.resolution_note) == (None, None, None)
    done, changed = feedback_resolution.resolve(shop, item.id, "Refunded the order.", 7, "desk")
    assert changed and done.resolved_by == "desk" and done.resolved_key_id == 7
    assert done.resolution_note == "Refunded the order." and done.resolved_at is not None
    again, changed = feedback_resolution.resolve(shop, item.id, "Something else.", 8, "other")
    assert not changed and again == done  # the first resolution, unchanged
    [entry] = audit(shop, item.id)
    assert (entry.action, entry.author, entry.key_id, entry.key_name) == ("resolved", "desk", 7, "desk")
    assert json.loads(entry.detail) == {"note": "Refunded the order."}
    assert feedback.list_feedback(shop) == [done]
    with pytest.raises(NotFound, match="feedback_id: unknown feedback 999"):
        feedback_resolution.resolve(shop, 999, "x", 7, "desk")
    assert audit(shop, 999) == []


def test_list_filters_by_rating_time_range_and_status(shop: Engine) -> None:
    one = feedback.create(shop, body("awful", rating=1))
    five = feedback.create(shop, body("great", rating=5))
    none = feedback.create(shop, body("no stars"))
    now = datetime(2026, 3, 1)
    for row, days in ((one, 10), (five, 5), (none, 1)):
        backdate(shop, row.id, now - timedelta(days=days))
    feedback_resolution.resolve(shop, five.id, "Thanked them.", 1, "desk")
    ids = lambda **kw: [f.id for f in feedback.list_feedback(shop, **kw)]  # noqa: E731
    assert ids(rating=1) == [one.id] and ids(rating=5) == [five.id] and ids(rating=3) == []
    assert ids(until=now - timedelta(days=5)) == [one.id]  # until excludes its own moment
    assert ids(since=now - timedelta(days=6), until=now - timedelta(days=2)) == [five.id]
    assert ids(status="open") == [none.id, one.id] and ids(status="resolved") == [five.id]
    assert ids(status="all") == ids() == [none.id, five.id, one.id]
    assert ids(status="open", sort="priority") == [none.id, one.id]  # unscored: both rank alike, newest first


def test_resolve_over_http_roles_validation_and_idempotence(client: TestClient, shop: Engine) -> None:
    item = feedback.create(shop, body("lost parcel"))
    path = f"/v1/feedback/{item.id}/resolve"
    for role, binding in (("marketing", {}), ("planner", {}), ("customer", {"customer_id": "C1"}), ("app", {})):
        refused = client.post(path, json={"note": "x"}, headers=key(shop, role, **binding))
        assert refused.status_code == 403, (role, refused.text)
    assert client.post(path, json={"note": "x"}).status_code == 401
    rep = key(shop, "sales_rep")
    for sent in ({"note": ""}, {"note": "   "}, {"note": "x" * 1001}, {}, {"note": "x", "by": "me"}):
        bad = client.post(path, json=sent, headers=rep)
        assert bad.status_code == 422, (sent, bad.text)
        assert bad.json()["detail"][0]["loc"][-1] in ("note", "by"), bad.text
    assert client.post("/v1/feedback/999999/resolve", json={"note": "x"}, headers=rep).status_code == 404
    assert client.post("/v1/feedback/0/resolve", json={"note": "x"}, headers=rep).status_code == 422
    assert audit(shop, item.id) == []  # nothing refused left a trace
    first = client.post(path, json={"note": "  Re-sent the parcel.  "}, headers=rep)
    assert first.status_code == 200 and first.headers["Resolved"] == "now", first.text
    out = first.json()
    assert out["resolution_note"] == "Re-sent the parcel." and out["resolved_at"].endswith("Z")
    assert out["resolved_by"].startswith("rk_") and out["resolved_key_id"] is not None  # an unnamed key: its prefix
    second = client.post(path, json={"note": "again"}, headers=key(shop, "ops"))
    assert second.status_code == 200 and second.headers["Resolved"] == "earlier" and second.json() == out
    assert len(audit(shop, item.id)) == 1
    admin = key(shop, "admin")
    listed = client.get("/v1/feedback", params={"status": "resolved"}, headers=admin).json()
    assert [f["id"] for f in listed] == [item.id] and listed[0]["resolution_note"] == "Re-sent the parcel."
    assert client.get("/v1/feedback", params={"status": "open"}, headers=admin).json() == []
    for params in ({"status": "done"}, {"rating": 6}, {"until": "soon"}):
        assert client.get("/v1/feedback", params=params, headers=admin).status_code == 422, params


def test_sentiment_by_week_averages_reviews_and_scored_feedback_of_the_top_products(
    shop: Engine, tmp_path: Path
) -> None:
    scorer = StubScorer()  # "bad ..." scores 0.1, anything else 0.9
    monday = datetime(2026, 3, 2)
    rows = [
        feedback.create(shop, body("bad P1", product_id="P1"), scorer),
        feedback.create(shop, body("good P1", product_id="P1"), scorer),
        feedback.create(shop, body("bad P2", product_id="P2"), scorer),
        feedback.create(shop, body("unscored P2", product_id="P2")),  # no score: left out
    ]
    for row, days in zip(rows, (0, 8, 1, 1), strict=True):
        backdate(shop, row.id, monday + timedelta(days=days, hours=1))
    reviews = pd.DataFrame(
        {
            "product_id": ["P1", "P2", "P2", "P3"],
            "ts": pd.to_datetime(["2026-03-03", "2026-03-04", "2026-03-05", "2026-03-04"]),
            "score": [0.5, 0.3, 0.7, 1.0],
        }
    )
    weekly = feedback_trend.sentiment_by_week(shop, reviews, top=2)
    assert weekly.products == ["P1", "P2"] and (weekly.reviews, weekly.feedback) == (4, 3)  # P3 not drawn; ties by id
    got = {
        (r.product_id, r.week.date().isoformat()): (round(r.score, 3), r["items"]) for _, r in weekly.weeks.iterrows()
    }
    assert got == {
        ("P1", "2026-03-02"): (0.3, 2),  # feedback 0.1 and review 0.5
        ("P1", "2026-03-09"): (0.9, 1),
        ("P2", "2026-03-02"): (round((0.1 + 0.3 + 0.7) / 3, 3), 3),
    }
    only = feedback_trend.sentiment_by_week(shop, reviews, since=monday + timedelta(days=7), product_id="P1")
    assert only.products == ["P1"] and len(only.weeks) == 1 and only.weeks["items"].tolist() == [1]
    empty = feedback_trend.sentiment_by_week(shop, reviews.iloc[:0], until=datetime(2020, 1, 1))
    assert empty.weeks.empty and empty.products == []
    none = feedback_trend.review_scores(tmp_path / "no_reviews.parquet")  # a workspace without reviews
    alone = feedback_trend.sentiment_by_week(shop, none)
    assert alone.products == ["P1", "P2"] and (alone.reviews, alone.feedback) == (0, 3)
