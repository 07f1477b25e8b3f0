"""API keys on the running service: 401 without a valid key, 403 for a role or customer that is not the key's."""

from __future__ import annotations

import time

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from retail.cli import app
from serving.auth import CACHE_SECONDS

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture(scope="module")
def anonymous(base_url: str):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def customers(built) -> list[str]:
    tx = pd.read_parquet(built.ws.raw_table("transactions"), columns=["customer_id"])
    return sorted(tx["customer_id"].dropna().unique())[:2]


def keys(built, *args: str) -> str:
    """`retail keys ...` on the served workspace (in process); its output."""
    result = runner.invoke(app, ["keys", *args, "--workspace", str(built.ws.root)])
    assert result.exit_code == 0, result.output
    return result.output


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_health_metrics_and_docs_need_no_key(anonymous: httpx.Client) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
        assert anonymous.get(path).status_code == 200, path


def test_model_endpoints_refuse_missing_and_unknown_keys(anonymous: httpx.Client, customers: list[str]) -> None:
    calls = [
        ("POST", "/recommend", {"customer_id": customers[0], "k": 3}),
        ("POST", "/churn", {"customer_ids": customers}),
        ("POST", "/sentiment", {"texts": ["nice"]}),
        ("GET", "/models", None),
    ]
    for method, path, body in calls:
        for headers in ({}, bearer("rk_AAAAAAAA_not-a-real-key"), {"Authorization": "Basic dXNlcjpwYXNz"}):
            response = anonymous.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (path, headers, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert "Traceback" not in response.text


def test_roles_customers_and_revocation_through_the_cli(built, anonymous: httpx.Client, customers: list[str]) -> None:
    mine, theirs = customers
    app_key = keys(built, "create", "--role", "app", "--name", "web shop").strip().splitlines()[-1]
    customer_key = keys(built, "create", "--role", "customer", "--customer-id", mine).strip().splitlines()[-1]
    listing = keys(built, "list")
    assert app_key[:11] in listing and customer_key[:11] in listing
    assert app_key not in listing and customer_key not in listing

    assert anonymous.post("/churn", json={"customer_ids": [mine]}, headers=bearer(app_key)).status_code == 200
    assert anonymous.get("/models", headers=bearer(app_key)).status_code == 403
    own = anonymous.post("/recommend", json={"customer_id": mine, "k": 3}, headers=bearer(customer_key))
    assert own.status_code == 200 and own.json()["customer_id"] == mine
    other = anonymous.post("/recommend", json={"customer_id": theirs, "k": 3}, headers=bearer(customer_key))
    assert other.status_code == 403
    assert anonymous.post("/churn", json={"customer_ids": [mine]}, headers=bearer(customer_key)).status_code == 403

    keys(built, "revoke", app_key[:11])
    time.sleep(CACHE_SECONDS + 0.5)  # the service caches a key it has seen for this long
    revoked = anonymous.post("/churn", json={"customer_ids": [mine]}, headers=bearer(app_key))
    assert revoked.status_code == 401
