"""The customer 360 profile and offers over HTTP: every section filled with models, empty with a note without."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from modelstubs import StubChurn, StubRecommender, StubRuntime, StubScorer, StubStock
from shopdata import T0, key, order_in, stock_shop
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retail.db import connect
from serving import auth
from serving.commerce import feedback, orders, returns
from serving.commerce.app import create_app
from serving.commerce.feedback import FeedbackIn
from serving.commerce.payloads import ReturnIn
from serving.commerce.tables import Customer
from serving.endpoints.profile import router as profile_router


def _order(engine: Engine, key: str, statuses: tuple[str, ...], **kwargs: Any) -> str:
    order, _ = orders.place_order(engine, key, order_in(**kwargs))
    for status in statuses:
        orders.set_status(engine, order.order_id, status)
    return order.order_id


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    """C1: three orders at store S1 (picked up and partly returned, open, cancelled), one open web order."""
    auth.forget()
    engine = stock_shop(connect(db_url))
    in_store = {"store_id": "S1", "fulfilment": "in_store", "channel": "store"}
    picked = _order(engine, "a", ("paid", "picking", "ready_for_pickup", "picked_up"), lines=[("P2", 2)], **in_store)
    returns.return_lines(
        engine, picked, ReturnIn.model_validate({"store_id": "S1", "lines": [{"product_id": "P2", "quantity": 1}]})
    )
    _order(engine, "b", (), lines=[("P1", 1)], **in_store)
    _order(engine, "c", ("cancelled",), lines=[("P2", 1)], **in_store)
    _order(engine, "d", ("paid",), lines=[("P2", 1)])
    feedback.create(engine, FeedbackIn(customer_id="C1", text="bad stitching", product_id="P2"), StubScorer())
    with Session(engine) as s, s.begin():
        s.add(Customer(customer_id="C3", created_at=T0))  # no orders, no online features
    yield engine
    auth.forget()


@pytest.fixture
def client(shop: Engine) -> Iterator[TestClient]:
    """The order API with the profile's router (as the service composes it) on `shop`, without a runtime."""
    app = create_app()
    app.include_router(profile_router)
    app.state.db_engine = shop
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def get(client: TestClient, engine: Engine, path: str) -> dict[str, Any]:
    answer = client.get(path, headers=key(engine, "admin"))
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def notes_about(body: dict[str, Any], section: str) -> list[str]:
    return [n for n in body["notes"] if n.startswith(f"{section}:") or n.startswith(f"{section} (")]


def loyalty_present(body: dict[str, Any]) -> bool:
    """C1 earned points on its paid orders: the loyalty summary with its newest ledger entries, no note."""
    loyalty = body["loyalty"]
    return loyalty["balance"] > 0 and bool(loyalty["tier"]) and 0 < len(loyalty["entries"]) <= 5


def test_profile_without_models_has_every_database_section_and_notes(client: TestClient, shop: Engine) -> None:
    body = get(client, shop, "/v1/customers/C1/profile")
    assert body["customer"]["customer_id"] == "C1" and body["customer"]["created_at"].startswith("2026-01-01")
    summary = body["orders"]
    assert summary["orders"] == 4 and summary["channels"] == {"store": 3, "web": 1}
    assert summary["spend"] == 5.0  # 5.00 picked up + 2.50 paid - 2.50 refunded; placed and cancelled not spent
    assert summary["usual_store_id"] == "S1" and summary["last_order_at"]
    assert [o["status"] for o in body["open_orders"]] == ["paid", "placed"]  # newest first
    assert [(f["text"], f["label"]) for f in body["feedback"]] == [("bad stitching", "negative")]
    assert body["churn"] is None and body["recommendations"] is None
    assert notes_about(body, "churn") == [
        "churn: no models in this process (the order API runs without the model service)"
    ]
    assert len(notes_about(body, "recommendations")) == 1
    assert loyalty_present(body) and notes_about(body, "loyalty") == []


def test_profile_with_models_scores_churn_and_offers_what_the_usual_store_has(client: TestClient, shop: Engine) -> None:
    recommender = StubRecommender()
    stock = StubStock({"S1": {"P1", "P2"}, None: {"P1", "P2", "P3"}})
    client.app.state.runtime = StubRuntime(stock, churn=StubChurn(), recommender=recommender)  # type: ignore[attr-defined]
    body = get(client, shop, "/v1/customers/C1/profile")
    assert body["churn"] == {
        "model_version": "3",
        "probability": 0.72,
        "band": "high",
        "drivers": ["days since last purchase", "fewer orders lately"],
    }
    recs = body["recommendations"]
    assert recs["store_id"] == "S1" and recs["model_version"] == "7" and stock.asked == ["S1"]
    # P3 is not stocked at S1; P2 is offered once (cross-sell first)
    assert [(i["kind"], i["product_id"]) for i in recs["items"]] == [("cross_sell", "P2"), ("up_sell", "P1")]
    assert recs["items"][0]["reason"] == "cross_sell reason for P2" and recs["items"][0]["price"] == 2.5
    assert recommender.calls[0]["features"] == {"orders_90d": 4.0}
    assert notes_about(body, "churn") == [] and notes_about(body, "recommendations") == []


def test_a_customer_without_orders_gets_offers_in_stock_online(client: TestClient, shop: Engine) -> None:
    stock = StubStock({"S1": {"P1"}, None: {"P2", "P3"}})
    client.app.state.runtime = StubRuntime(stock, churn=StubChurn(), recommender=StubRecommender())  # type: ignore[attr-defined]
    body = get(client, shop, "/v1/customers/C2/profile")
    assert body["orders"] == {"orders": 0, "spend": 0.0, "last_order_at": None, "channels": {}, "usual_store_id": None}
    assert body["recommendations"]["store_id"] is None and stock.asked == [None]
    assert [i["product_id"] for i in body["recommendations"]["items"]] == ["P3", "P2"]
    unknown = get(client, shop, "/v1/customers/C3/profile")  # in the database, not yet in the feature store
    assert unknown["churn"] is None and "no features for this customer" in notes_about(unknown, "churn")[0]


def test_missing_loading_and_failing_models_leave_their_sections_empty(client: TestClient, shop: Engine) -> None:
    client.app.state.runtime = StubRuntime(churn=StubChurn(fail=True))  # type: ignore[attr-defined]
    body = get(client, shop, "/v1/customers/C1/profile")
    assert body["churn"] is None and notes_about(body, "churn") == ["churn: failed (RuntimeError); see the service log"]
    assert notes_about(body, "recommendations") == ["recommendations: no recommender model is loaded"]
    assert body["orders"]["orders"] == 4 and len(body["feedback"]) == 1  # the rest of the profile is there
    client.app.state.runtime = StubRuntime(loading=True, churn=StubChurn())  # type: ignore[attr-defined]
    body = get(client, shop, "/v1/customers/C1/profile")
    assert notes_about(body, "churn") == ["churn: models and features are still loading"]
    stock = StubStock({None: {"P1"}})  # S1 unknown to the stock: offers come from online stock
    client.app.state.runtime = StubRuntime(stock, recommender=StubRecommender())  # type: ignore[attr-defined]
    body = get(client, shop, "/v1/customers/C1/profile")
    assert body["recommendations"]["store_id"] is None and stock.asked == ["S1", None]
    assert "store 'S1' has no stock data" in notes_about(body, "recommendations")[0]


def test_profile_roles(client: TestClient, shop: Engine) -> None:
    path = "/v1/customers/C1/profile"
    for role in ("admin", "ops", "sales_rep", "marketing"):
        assert client.get(path, headers=key(shop, role)).status_code == 200, role
    assert client.get(path, headers=key(shop, "customer", customer_id="C1")).status_code == 200
    assert client.get(path, headers=key(shop, "customer", customer_id="C2")).status_code == 403
    assert client.get(path, headers=key(shop, "store", store_id="S1")).status_code == 403
    for role in ("planner", "app"):
        assert client.get(path, headers=key(shop, role)).status_code == 403, role
    assert client.get(path).status_code == 401
    missing = client.get("/v1/customers/C9/profile", headers=key(shop, "admin"))
    assert missing.status_code == 404 and missing.json() == {"detail": "customer_id: unknown customer 'C9'"}


def test_offers_for_the_customer_s_own_key(client: TestClient, shop: Engine) -> None:
    stock = StubStock({"S1": {"P1"}, None: {"P1", "P2", "P3"}})
    client.app.state.runtime = StubRuntime(stock, recommender=StubRecommender())  # type: ignore[attr-defined]
    mine = client.get("/v1/customers/C1/offers", headers=key(shop, "customer", customer_id="C1"))
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["customer_id"] == "C1" and body["offers"]["store_id"] is None and stock.asked == [None]
    assert [(i["kind"], i["product_id"]) for i in body["offers"]["items"]] == [
        ("cross_sell", "P3"),
        ("cross_sell", "P2"),
        ("up_sell", "P1"),
    ]
    assert body["points"] > 0 and notes_about(body, "points") == []
    for role in ("admin", "ops", "marketing", "sales_rep"):
        assert client.get("/v1/customers/C1/offers", headers=key(shop, role)).status_code == 200, role
    assert client.get("/v1/customers/C1/offers", headers=key(shop, "store", store_id="S1")).status_code == 200
    for role in ("planner", "app"):
        assert client.get("/v1/customers/C1/offers", headers=key(shop, role)).status_code == 403, role
    other = client.get("/v1/customers/C2/offers", headers=key(shop, "customer", customer_id="C1"))
    assert other.status_code == 403
    assert client.get("/v1/customers/C9/offers", headers=key(shop, "admin")).status_code == 404
    client.app.state.runtime = None  # type: ignore[attr-defined]
    alone = get(client, shop, "/v1/customers/C1/offers")
    assert alone["offers"] is None and len(notes_about(alone, "offers")) == 1


def test_marketing_reads_no_orders_or_points_through_the_profile_or_offers(client: TestClient, shop: Engine) -> None:
    """/orders and /loyalty refuse marketing keys; the profile and the offers do not hand them over instead."""
    marketing = key(shop, "marketing")
    assert client.get("/v1/customers/C1/orders", headers=marketing).status_code == 403
    assert client.get("/v1/customers/C1/loyalty", headers=marketing).status_code == 403
    body = client.get("/v1/customers/C1/profile", headers=marketing).json()
    assert body["orders"] is None and body["open_orders"] is None and body["loyalty"] is None
    assert body["feedback"][0]["text"] == "bad stitching"  # GET /v1/feedback lets marketing read it
    assert client.get("/v1/customers/C1/offers", headers=marketing).json()["points"] is None


# --- each role sees the same data in the profile as from the data's own endpoint ---------------------------------

OWN_ENDPOINT = {  # profile section -> the request that asks the same data of C1 on its own
    "orders": ("GET", "/v1/customers/C1/orders", None),
    "open_orders": ("GET", "/v1/customers/C1/orders", None),
    "loyalty": ("GET", "/v1/customers/C1/loyalty", None),
    "churn": ("POST", "/churn", {"customer_ids": ["C1"]}),
    "feedback": ("GET", "/v1/feedback?customer_id=C1", None),
    "recommendations": ("POST", "/recommend", {"customer_id": "C1", "mode": "cross_sell"}),
}


class NotReady:
    """The model endpoints' runtime while their own answers are asked: 503 once auth lets a request in."""

    def require_ready(self) -> None:
        raise HTTPException(status_code=503, detail="loading")

    def adapter(self, name: str) -> None:
        self.require_ready()


def _binding(role: str) -> dict[str, str]:
    return {"customer_id": "C1"} if role == "customer" else {"store_id": "S1"} if role == "store" else {}


def test_every_role_sees_each_profile_section_exactly_when_its_own_endpoint_answers(
    shop: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every role x every section: present in the profile (and the offers) iff the section's own endpoint lets
    that role in (200, or the model endpoints' 503), `null` with a note iff it answers 403; `SECTIONS` says so."""
    from serving.endpoints.profile import OFFER_ROLES, PROFILE_ROLES, SECTIONS
    from serving.service import app

    monkeypatch.setattr(app.state, "db_engine", shop, raising=False)
    monkeypatch.setattr(app.state, "runtime", None, raising=False)  # put back as it was afterwards
    stubs = StubRuntime(
        StubStock({"S1": {"P1", "P2"}, None: {"P1", "P2", "P3"}}), churn=StubChurn(), recommender=StubRecommender()
    )
    seen: dict[str, dict[str, bool]] = {}
    with TestClient(app, raise_server_exceptions=False) as client:
        for role in auth.ROLES:
            headers = key(shop, role, **_binding(role))
            app.state.runtime = NotReady()
            own = {}
            for section, (method, path, body) in OWN_ENDPOINT.items():
                status = client.request(method, path, json=body, headers=headers).status_code
                assert status != 401, (role, section)
                own[section] = status != 403
                assert own[section] is (role in SECTIONS[section].roles), (role, section, status)
            seen[role] = own
            app.state.runtime = stubs
            answer = client.get("/v1/customers/C1/profile", headers=headers)
            assert answer.status_code == (200 if role in PROFILE_ROLES else 403), (role, answer.text)
            if answer.status_code == 200:
                body = answer.json()
                assert body["customer"]["customer_id"] == "C1"
                for section, allowed in own.items():
                    assert (body[section] is not None) is allowed, (role, section, body[section])
                    refusal = f"{section}: not shown to {role} keys ({SECTIONS[section].endpoint} refuses them)"
                    assert (refusal in body["notes"]) is not allowed, (role, section, body["notes"])
                assert [n for n in body["notes"] if "not shown" not in n] == [], (role, body["notes"])
            offers = client.get("/v1/customers/C1/offers", headers=headers)
            assert offers.status_code == (200 if role in OFFER_ROLES else 403), (role, offers.text)
            if offers.status_code == 200:
                body = offers.json()
                assert (body["points"] is not None) is own["loyalty"], (role, body)
                assert (body["offers"] is not None) is own["recommendations"], (role, body)
    # the table the README shows
    assert {role for role, own in seen.items() if own["loyalty"] and role in PROFILE_ROLES} == {
        "admin",
        "ops",
        "sales_rep",
        "customer",
    }
    assert {role for role, own in seen.items() if own["churn"] and role in PROFILE_ROLES} == {
        "admin",
        "ops",
        "sales_rep",
        "marketing",
    }
    assert {role for role, own in seen.items() if own["feedback"] and role in PROFILE_ROLES} == {
        "admin",
        "ops",
        "sales_rep",
        "marketing",
    }


LOAD_ERROR = "OSError: [Errno 2] No such file or directory: '/srv/mlruns/models/m-7f3a/artifacts/model.pkl'"
UNPICKLABLE = "UnpicklingError: invalid load key, '\\x00' (/srv/mlruns/models/m-91c2/artifacts/model.pkl)"


class Unloadable(StubRuntime):
    """Ready, but every model failed to load: the runtime's 503 carries the exception text, as `Runtime` does."""

    def adapter(self, name: str) -> Any:
        raise HTTPException(503, UNPICKLABLE)


def broken_runtimes() -> list[tuple[StubRuntime, str]]:
    """Runtimes whose models cannot answer, each with what an operator's note says about it."""
    failed_load = StubRuntime(loading=True)
    failed_load.load_error = LOAD_ERROR  # type: ignore[assignment]
    crashing = StubRuntime(churn=StubChurn(fail=True), recommender=StubRecommender())
    return [(failed_load, LOAD_ERROR), (Unloadable(), UNPICKLABLE), (crashing, "failed (RuntimeError)")]


@pytest.mark.parametrize("case", range(3))
def test_model_load_errors_reach_operators_only(
    client: TestClient, shop: Engine, caplog: pytest.LogCaptureFixture, case: int
) -> None:
    """A model's load error (or a section's exception) is in an operator's notes and in the log; other keys get
    a neutral note ("churn score unavailable") that names no exception, file or path."""
    runtime, detail = broken_runtimes()[case]
    client.app.state.runtime = runtime  # type: ignore[attr-defined]
    for role in ("admin", "ops"):
        notes = client.get("/v1/customers/C1/profile", headers=key(shop, role)).json()["notes"]
        assert f"churn: {detail}" in " ".join(notes), (role, notes)
    for role in ("customer", "sales_rep", "marketing"):
        headers = key(shop, role, **({"customer_id": "C1"} if role == "customer" else {}))
        caplog.clear()
        with caplog.at_level("WARNING", logger="serving.endpoints.profile"):
            profile = client.get("/v1/customers/C1/profile", headers=headers).json()["notes"]
        offers = client.get("/v1/customers/C1/offers", headers=headers)
        notes = profile + (offers.json()["notes"] if offers.status_code == 200 else [])
        assert all(word not in " ".join(notes) for word in ("Error", "/srv", "failed", "log")), (role, notes)
        if role == "customer":  # churn is not the customer's to see at all
            assert "churn: not shown to customer keys (POST /churn refuses them)" in profile
        else:
            assert "churn: churn score unavailable" in profile, (role, profile)
        if case < 2:
            assert "recommendations: recommendations unavailable" in profile, (role, profile)
            assert offers.status_code == 403 or "offers: offers unavailable" in offers.json()["notes"]
            assert detail in caplog.text  # what the caller was not told is in the log
