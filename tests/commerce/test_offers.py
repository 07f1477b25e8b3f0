"""Personal offers priced by the campaign policy: codes issued once per product, reused, renewed after expiry."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from modelstubs import CATALOGUE, StubChurn, StubOnline, StubRecommender, StubRuntime, StubStock
from shopdata import PRICES, T0, key, stock_shop
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from features.catalog import CUSTOMER_WINDOWS
from retail.db import connect
from serving import auth
from serving.commerce import events, offers
from serving.commerce.app import create_app
from serving.commerce.discounts import CampaignPolicy, decide
from serving.commerce.tables import Customer, PersonalOffer
from serving.endpoints.profile import router as profile_router

SPEND = {"C1": 800.0, "C2": 120.0}  # spend in the 365 days; each shorter window has a share of it


def spend(customer_id: str, window: int) -> float | None:
    found = SPEND.get(customer_id)
    return None if found is None else round(found * (window / 365) ** 0.5, 2)


class SpendOnline(StubOnline):
    """The stub online store, with `spend_<w>d` for C1 and C2 (nothing for anyone else)."""

    def get_online_features(self, features: Any, entity_rows: list[dict[str, str]]) -> Any:
        answer = super().get_online_features(features, entity_rows)
        values = answer.to_dict()
        ids = [row["customer_id"] for row in entity_rows]
        values.update({f"spend_{w}d": [spend(c, w) for c in ids] for w in CUSTOMER_WINDOWS})
        return type(answer)(to_dict=lambda: values, to_df=answer.to_df)


def runtime(stock: StubStock | None = None, **adapters: Any) -> StubRuntime:
    rt = StubRuntime(stock, **adapters)
    rt.store = SpendOnline()
    return rt


def models(stock: StubStock | None = None) -> StubRuntime:
    return runtime(stock, churn=StubChurn(), recommender=StubRecommender())


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    """C1 and C2 with features, C3 without; products P1-P3 priced as `shopdata.PRICES`."""
    auth.forget()
    engine = stock_shop(connect(db_url))
    with Session(engine) as s, s.begin():
        s.add(Customer(customer_id="C3", created_at=T0))
    yield engine
    auth.forget()


@pytest.fixture
def client(shop: Engine) -> Iterator[TestClient]:
    app = create_app()
    app.include_router(profile_router)
    app.state.db_engine = shop
    app.state.runtime = models()
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def get(client: TestClient, engine: Engine, customer_id: str = "C1", role: str = "admin") -> dict[str, Any]:
    binding = {"customer_id": customer_id} if role == "customer" else {"store_id": "S1"} if role == "store" else {}
    answer = client.get(f"/v1/customers/{customer_id}/offers", headers=key(engine, role, **binding))
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def items(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["product_id"]: i for i in body["offers"]["items"]}


def codes(body: dict[str, Any]) -> dict[str, str | None]:
    return {p: i["code"] for p, i in items(body).items()}


def stored(engine: Engine, customer_id: str | None = None) -> list[PersonalOffer]:
    with Session(engine) as s:
        query = select(PersonalOffer).order_by(PersonalOffer.issued_at, PersonalOffer.code)
        if customer_id is not None:
            query = query.where(PersonalOffer.customer_id == customer_id)
        return list(s.scalars(query))


def expected(rules: CampaignPolicy, customer_id: str, product_id: str) -> tuple[float, str]:
    """The policy's discount for the stub churn score (0.72, high) and the customer's value at risk."""
    window = rules.value_window_days
    used = min(CUSTOMER_WINDOWS, key=lambda w: (abs(w - window), -w))
    value = round(spend(customer_id, used) * rules.horizon_days / used, 2)  # type: ignore[operator]
    row = decide(
        rules,
        np.array([0.72]),
        np.array(["high"], dtype=object),
        np.array([value]),
        np.array([PRICES[product_id] / 100]),
    )
    return float(row["discount_pct"][0]), str(row["discount_reason"][0])


def test_each_offer_carries_the_policy_s_discount_a_code_and_an_expiry(client: TestClient, shop: Engine) -> None:
    body = get(client, shop)
    found = items(body)
    assert list(found) == ["P3", "P2", "P1"]  # the recommender's order: cross-sell, then up-sell
    assert body["offers"]["churn_model_version"] == "3" and body["offers"]["model_version"] == "7"
    assert [n for n in body["notes"] if n.startswith("discounts")] == []
    rules = CampaignPolicy()
    given = 0
    for product_id, item in found.items():
        pct, reason = expected(rules, "C1", product_id)
        assert item["discount_pct"] == pct and item["discount_reason"] == reason, product_id
        cap = math.floor(PRICES[product_id] * pct / 100)
        assert item["cap_cents"] == cap and item["discount_cents"] == cap and item["discount"] == cap / 100
        assert item["max_discount"] == cap / 100 and item["price"] == PRICES[product_id] / 100
        assert item["name"] == CATALOGUE[product_id][0] and item["recommended"] is True
        if pct > 0:
            given += 1
            issued = datetime.fromisoformat(item["issued_at"])
            assert datetime.fromisoformat(item["expires_at"]) - issued == timedelta(days=14)
            assert len(item["code"]) >= 16
        else:
            assert item["code"] is None and item["discount_cents"] == 0
    assert given >= 2  # the planted spend earns discounts under the default policy
    rows = stored(shop, "C1")
    assert {r.code: (r.product_id, r.discount_pct, r.cap_cents) for r in rows} == {
        i["code"]: (p, i["discount_pct"], i["cap_cents"]) for p, i in found.items() if i["code"]
    }
    assert {r.model_version for r in rows} == {"7"} and {r.kind for r in rows} <= {"cross_sell", "up_sell"}


def test_the_discount_today_follows_the_price_up_to_the_cap(client: TestClient, shop: Engine) -> None:
    first = items(get(client, shop))["P3"]
    assert first["code"] is not None
    with Session(shop) as s, s.begin():
        s.execute(update(PersonalOffer).where(PersonalOffer.code == first["code"]).values(cap_cents=100))
    again = items(get(client, shop))["P3"]
    assert again["code"] == first["code"] and again["cap_cents"] == 100 and again["discount_cents"] == 100


def test_repeated_requests_answer_the_same_codes_and_a_new_one_after_expiry(client: TestClient, shop: Engine) -> None:
    first = codes(get(client, shop))
    assert codes(get(client, shop)) == first and codes(get(client, shop, role="marketing")) == first
    assert len(stored(shop)) == sum(c is not None for c in first.values())
    with Session(shop) as s, s.begin():  # P3's offer runs out
        s.execute(
            update(PersonalOffer)
            .where(PersonalOffer.code == first["P3"])
            .values(expires_at=events.now() - timedelta(seconds=1))
        )
    renewed = codes(get(client, shop))
    assert renewed["P3"] not in (None, first["P3"])
    assert {p: c for p, c in renewed.items() if p != "P3"} == {p: c for p, c in first.items() if p != "P3"}
    assert len(stored(shop)) == sum(c is not None for c in first.values()) + 1  # the expired one is kept


def test_codes_differ_between_customers_and_a_customer_reads_only_its_own(client: TestClient, shop: Engine) -> None:
    mine = codes(get(client, shop, "C1", role="customer"))
    theirs = codes(get(client, shop, "C2"))
    issued = [c for c in [*mine.values(), *theirs.values()] if c is not None]
    assert issued and len(issued) == len(set(issued))
    other = client.get("/v1/customers/C2/offers", headers=key(shop, "customer", customer_id="C1"))
    assert other.status_code == 403
    assert codes(get(client, shop, "C2", role="marketing")) == theirs  # marketing reads anyone's, same codes
    for role in ("planner", "app"):
        assert client.get("/v1/customers/C1/offers", headers=key(shop, role)).status_code == 403, role
    assert client.get("/v1/customers/C1/offers").status_code == 401
    assert client.get("/v1/customers/C9/offers", headers=key(shop, "admin")).status_code == 404


def test_keys_that_churn_refuses_get_a_neutral_reason(client: TestClient, shop: Engine) -> None:
    full = items(get(client, shop))
    for role in ("customer", "store"):
        shown = items(get(client, shop, role=role))
        assert {p: i["code"] for p, i in shown.items()} == {p: i["code"] for p, i in full.items()}, role
        for product_id, item in shown.items():
            assert "risk" not in item["discount_reason"], (role, item)
            assert item["discount_pct"] == full[product_id]["discount_pct"]
    assert any("risk" in i["discount_reason"] for i in full.values())  # the rule, for those allowed


def test_without_a_churn_score_offers_are_listed_without_codes(client: TestClient, shop: Engine) -> None:
    client.app.state.runtime = runtime(recommender=StubRecommender())  # type: ignore[attr-defined]
    body = get(client, shop)
    assert list(items(body)) == ["P3", "P2", "P1"]
    assert all(i["code"] is None and i["discount_cents"] == 0 for i in items(body).values())
    assert [n for n in body["notes"] if n.startswith("discounts:")] == ["discounts: no churn model is loaded"]
    client.app.state.runtime = models()  # type: ignore[attr-defined]
    unknown = get(client, shop, "C3")  # churn knows nobody without features
    assert all(i["code"] is None for i in items(unknown).values())
    assert any(n.startswith("discounts:") and "no features" in n for n in unknown["notes"])
    assert stored(shop) == []


def test_a_policy_without_a_discount_lists_the_offer_without_a_code_and_says_why(
    client: TestClient, shop: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = {"rules": [{"band": "low", "discount_pct": 5}], "value_window_days": 200}
    (tmp_path / "policy.json").write_text(json.dumps(rules))
    monkeypatch.setenv("RETAIL_OFFER_POLICY", str(tmp_path / "policy.json"))
    body = get(client, shop)
    policy = CampaignPolicy.model_validate(rules)
    for product_id, item in items(body).items():
        assert item["code"] is None and item["discount_pct"] == 0 and item["discount_cents"] == 0
        assert (
            item["discount_reason"] == expected(policy, "C1", product_id)[1] == "no rule for this risk band and value"
        )
    assert "discounts: value at risk from spend_180d (value_window_days 200 is not a feature window)" in body["notes"]
    assert stored(shop) == []
    monkeypatch.setenv("RETAIL_OFFER_POLICY", str(tmp_path / "missing.json"))
    broken = get(client, shop)
    assert all(i["code"] is None for i in items(broken).values())
    assert [n for n in broken["notes"] if n.startswith("discounts:")] == [
        "discounts: failed (FileNotFoundError); see the service log"
    ]


def test_offers_expire_after_the_configured_days(
    client: TestClient, shop: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAIL_OFFER_DAYS", "3")
    item = next(i for i in items(get(client, shop)).values() if i["code"])
    lasts = datetime.fromisoformat(item["expires_at"]) - datetime.fromisoformat(item["issued_at"])
    assert lasts == timedelta(days=3)


def test_held_offers_stay_listed_and_used_ones_are_not_renewed(client: TestClient, shop: Engine) -> None:
    first = codes(get(client, shop))
    assert first["P3"] and first["P2"]
    client.app.state.runtime = models(StubStock({None: {"P1", "P2"}}))  # type: ignore[attr-defined]
    body = items(get(client, shop))
    assert list(body) == ["P2", "P1", "P3"] and body["P3"]["recommended"] is False
    assert body["P3"]["code"] == first["P3"] and body["P3"]["score"] is None and body["P3"]["kind"] == "cross_sell"
    with Session(shop) as s, s.begin():
        s.execute(
            update(PersonalOffer)
            .where(PersonalOffer.code == first["P2"])
            .values(redeemed_order_id="O1", redeemed_at=events.now(), redeemed_cents=1)
        )
    after = items(get(client, shop))
    assert after["P2"]["code"] is None and first["P2"] in after["P2"]["discount_reason"]
    with Session(shop) as s:
        live = offers.live_offers(s, "C1", events.now())
    assert {o.code for o in live} == {c for p, c in first.items() if c and p != "P2"}
    client.app.state.runtime = None  # type: ignore[attr-defined]
    alone = get(client, shop)  # no recommender: the live offers held are still answered, with a note
    assert {i["code"] for i in alone["offers"]["items"]} == {o.code for o in live}
    assert alone["offers"]["model_version"] is None and not any(i["recommended"] for i in alone["offers"]["items"])
    assert len([n for n in alone["notes"] if n.startswith("offers:")]) == 1
    assert offers.MAX_OFFERS_PER_ORDER == 2


def test_concurrent_requests_issue_one_live_offer_per_product(shop: Engine) -> None:
    wanted = [offers.Wanted(p, "cross_sell", "7") for p in ("P3", "P2", "P1")]
    risk = offers.Risk(0.72, "high", 200.0)
    at = events.now()
    start = threading.Barrier(8)
    answers: list[list[offers.Priced]] = []
    errors: list[BaseException] = []

    def ask() -> None:
        start.wait()
        try:
            answers.append(offers.price_offers(shop, "C2", wanted, risk, at, CampaignPolicy(), 14))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(answers) == 8
    seen = {tuple((p.product_id, p.code) for p in answer) for answer in answers}
    assert len(seen) == 1  # every request answers the same codes
    with Session(shop) as s:
        count = s.scalar(select(func.count()).select_from(PersonalOffer).where(PersonalOffer.customer_id == "C2"))
    assert count == sum(p.code is not None for p in answers[0]) == 3


def test_codes_are_unguessable_and_unique() -> None:
    many = {offers.new_code() for _ in range(2000)}
    assert len(many) == 2000 and all(len(c) == 19 and c.count("-") == 3 for c in many)
    assert offers.unit_discount_cents(1999, 20.0, 10_000) == 399 and offers.unit_discount_cents(1999, 20.0, 100) == 100
