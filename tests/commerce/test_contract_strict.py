"""Contract details schemathesis found: points and quantities are JSON integers, every 405 names the methods a
path allows, and 422s a schema-valid request can still get are documented with their business rules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from modelstubs import StubRuntime
from shopdata import key, order_body, stock_shop
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retail.db import connect
from serving import auth
from serving.commerce.tables import Order

NOT_INTEGERS = [False, True, "2", 2.5, None]


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    auth.forget()
    yield stock_shop(connect(db_url))
    auth.forget()


@pytest.fixture
def service(shop: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The whole service's app in process, with a ready runtime that has no models (nothing here reaches one)."""
    from serving.service import app

    monkeypatch.setattr(app.state, "db_engine", shop, raising=False)
    monkeypatch.setattr(app.state, "runtime", StubRuntime(), raising=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _orders(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(Order)) or 0)


@pytest.mark.parametrize("value", NOT_INTEGERS, ids=repr)
def test_points_and_quantities_must_be_json_integers(client: TestClient, shop: Engine, value: object) -> None:
    admin = key(shop, "admin") | {"Idempotency-Key": "k1"}
    redeem = client.post("/v1/orders", json=order_body() | {"redeem_points": value}, headers=admin)
    assert redeem.status_code == 422, redeem.text  # `false` was an order redeeming 0 points
    assert redeem.json()["detail"][0]["loc"] == ["body", "redeem_points"]
    body = order_body()
    body["lines"][0]["quantity"] = value  # type: ignore[index]
    quantity = client.post("/v1/orders", json=body, headers=admin)
    assert quantity.status_code == 422 and quantity.json()["detail"][0]["loc"] == ["body", "lines", 0, "quantity"]
    assert _orders(shop) == 0


def test_an_integral_number_is_an_integer_as_json_schema_counts_them(client: TestClient, shop: Engine) -> None:
    body = order_body() | {"redeem_points": 0.0}
    body["lines"][0]["quantity"] = 2.0  # type: ignore[index]
    placed = client.post("/v1/orders", json=body, headers=key(shop, "admin") | {"Idempotency-Key": "k1"})
    assert placed.status_code == 201, placed.text
    assert placed.json()["lines"][0]["quantity"] == 2


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/recommend", {"k": True}),
        ("/forecast/overrides", {"product_id": "P1", "start": "2026-07-01", "end": "2026-07-02", "value": True}),
        ("/forecast/overrides", {"product_id": "P1", "start": "2026-07-01", "end": "2026-07-02", "factor": "2"}),
    ],
)
def test_model_endpoints_take_numbers_only_as_json_numbers(
    service: TestClient, shop: Engine, path: str, body: dict[str, object]
) -> None:
    body = body | ({"reason": "r", "author": "a"} if path.startswith("/forecast") else {})
    answer = service.post(path, json=body, headers=key(shop, "admin"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"][1] in {"k", "value", "factor"}


def test_every_405_names_all_the_methods_of_its_path(client: TestClient, service: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    for app, path, allowed in [
        (client, "/v1/feedback", {"GET", "POST"}),  # two routes share the path: Starlette named only the first
        (client, "/v1/orders", {"GET", "POST"}),  # the listing and placing, two routers
        (service, "/v1/feedback", {"GET", "POST"}),
        (service, "/forecast/overrides", {"GET", "POST"}),
        (service, "/forecast/overrides/1", {"PUT", "DELETE"}),
    ]:
        for method in {"OPTIONS", "PUT", "PATCH"} - allowed:
            answer = app.request(method, path, headers=admin)
            assert answer.status_code == 405, (method, path, answer.text)
            assert set(answer.headers["Allow"].split(", ")) == allowed, (method, path, answer.headers)


def test_business_rule_rejections_are_documented(client: TestClient, service: TestClient) -> None:
    orders = client.get("/openapi.json").json()["paths"]
    assert "`to` before `from`" in orders["/v1/reports/sales"]["get"]["responses"]["422"]["description"]
    assert "does not exist" in orders["/v1/orders"]["post"]["responses"]["422"]["description"]
    assert "does not exist" in orders["/v1/feedback"]["post"]["responses"]["422"]["description"]
    assert "not on the order" in orders["/v1/orders/{order_id}/returns"]["post"]["responses"]["422"]["description"]
    models = service.get("/openapi.json").json()["paths"]
    override = models["/forecast/overrides"]["post"]["responses"]
    assert "`end` before `start`" in override["422"]["description"] and "404" in override
    assert "does not know" in models["/recommend"]["post"]["responses"]["422"]["description"]
    assert "no forecast is stored" in models["/forecast/accuracy"]["get"]["responses"]["404"]["description"]
