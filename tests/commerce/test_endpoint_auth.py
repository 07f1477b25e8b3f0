"""Every route of the service needs a key (the docs aside), and each model endpoint admits only its roles.

In process, with a runtime that is never ready: a request that passes auth gets the runtime's 503, so the
status tells whether auth let it through, without models.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from retail.db import connect
from serving import auth
from serving.auth import create_key

BODIES = {
    "/recommend": {"customer_id": "C1", "store_id": "S1"},
    "/churn": {"customer_ids": ["C1"]},
    "/sentiment": {"texts": ["fine"]},
}


class NotReady:
    """A runtime still loading: every model endpoint answers 503 once auth has let the request in."""

    def require_ready(self) -> None:
        raise HTTPException(status_code=503, detail="loading")

    def adapter(self, name: str) -> None:
        self.require_ready()


@pytest.fixture
def service(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, object]]:
    from serving.service import app

    engine = connect(db_url)
    auth.forget()
    monkeypatch.setattr(app.state, "db_engine", engine, raising=False)
    monkeypatch.setattr(app.state, "runtime", NotReady(), raising=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, engine
    auth.forget()


def _routes(client: TestClient) -> list[tuple[str, str]]:
    """Every documented operation (the docs themselves are not in the schema), path parameters set to 1."""
    paths = client.get("/openapi.json").json()["paths"]
    return [(m.upper(), re.sub(r"\{[^}]+\}", "1", path)) for path, ops in paths.items() for m in ops]


def call(client: TestClient, method: str, path: str, key: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.request(method, path, headers=headers, json=BODIES.get(path, {}))


def test_every_route_needs_a_valid_key(service) -> None:  # type: ignore[no-untyped-def]
    client, engine = service
    routes = _routes(client)
    assert {("POST", "/recommend"), ("GET", "/models"), ("GET", "/forecast")} <= set(routes)
    key, row = create_key(engine, "admin")
    auth.revoke_key(engine, row.prefix)
    for method, path in routes:
        for sent in (None, "rk_00000000_wrong", key):
            response = call(client, method, path, sent)
            assert response.status_code == 401, (method, path, sent, response.text)
            assert response.headers["www-authenticate"] == "Bearer"


def test_an_admin_key_passes_everywhere(service) -> None:  # type: ignore[no-untyped-def]
    client, engine = service
    key, _ = create_key(engine, "admin")
    for method, path in _routes(client):
        assert call(client, method, path, key).status_code not in (401, 403), (method, path)


@pytest.mark.parametrize(
    ("role", "path", "allowed"),
    [
        ("app", "/recommend", True),
        ("app", "/churn", True),
        ("app", "/models", False),
        ("ops", "/models", True),
        ("planner", "/churn", False),
        ("planner", "/forecast", True),
        ("marketing", "/forecast", True),
        ("store", "/forecast", False),
        ("sales_rep", "/sentiment", True),
        ("customer", "/sentiment", False),
        ("customer", "/churn", False),
    ],
)
def test_roles(service, role: str, path: str, allowed: bool) -> None:  # type: ignore[no-untyped-def]
    client, engine = service
    binding = {"customer_id": "C1"} if role == "customer" else {"store_id": "S1"} if role == "store" else {}
    key, _ = create_key(engine, role, **binding)
    method = "GET" if path in ("/models", "/forecast") else "POST"
    assert (call(client, method, path, key).status_code == 403) is not allowed


def test_overrides_are_written_by_planners_only(service) -> None:  # type: ignore[no-untyped-def]
    client, engine = service
    marketing, _ = create_key(engine, "marketing")
    planner, _ = create_key(engine, "planner")
    assert call(client, "GET", "/forecast/overrides", marketing).status_code == 503
    assert call(client, "POST", "/forecast/overrides", marketing).status_code == 403
    assert call(client, "DELETE", "/forecast/overrides/1", marketing).status_code == 403
    assert call(client, "POST", "/forecast/overrides", planner).status_code != 403


def test_customer_and_store_keys_recommend_only_for_themselves(service) -> None:  # type: ignore[no-untyped-def]
    client, engine = service
    customer, _ = create_key(engine, "customer", customer_id="C1")
    other, _ = create_key(engine, "customer", customer_id="C2")
    store, _ = create_key(engine, "store", store_id="S1")
    elsewhere, _ = create_key(engine, "store", store_id="S2")
    assert call(client, "POST", "/recommend", customer).status_code == 503  # its own customer: let through
    assert call(client, "POST", "/recommend", other).status_code == 403
    guest = client.post("/recommend", json={"cart": ["P1"]}, headers={"Authorization": f"Bearer {customer}"})
    assert guest.status_code == 403
    assert call(client, "POST", "/recommend", store).status_code == 503
    assert call(client, "POST", "/recommend", elsewhere).status_code == 403
