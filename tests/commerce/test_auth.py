"""API keys: stored hashed, shown once, 401 without a valid key, 403 for another role, customer or store."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from retail.db import connect
from serving import auth
from serving.auth import Caller, check_customer, check_store, create_key, require


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    auth.forget()
    yield connect(db_url)
    auth.forget()


@pytest.fixture
def client(engine) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    app = FastAPI()
    app.state.db_engine = engine

    @app.get("/admin")
    def admin_only(caller: Annotated[Caller, Depends(require("admin", "ops"))]) -> dict[str, str]:
        return {"role": caller.role}

    @app.get("/customers/{customer_id}")
    def own(customer_id: str, caller: Annotated[Caller, Depends(require("admin", "customer"))]) -> dict[str, str]:
        check_customer(caller, customer_id)
        return {"customer_id": customer_id}

    @app.get("/stores/{store_id}")
    def store(store_id: str, caller: Annotated[Caller, Depends(require("admin", "store"))]) -> dict[str, str]:
        check_store(caller, store_id)
        return {"store_id": store_id}

    with TestClient(app) as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_key_is_stored_hashed_and_found_by_prefix(engine) -> None:  # type: ignore[no-untyped-def]
    key, row = create_key(engine, "admin", name="ci")
    assert key.startswith("rk_") and len(key) > 40 and row.prefix == key[:11]
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() and key not in row.key_hash
    assert auth.lookup(engine, key) == Caller(row.id, "admin", None, None)
    assert auth.lookup(engine, key[:-1] + ("A" if key[-1] != "A" else "B")) is None  # right prefix, wrong secret


def test_bindings_are_required_and_only_where_they_belong(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="--customer-id"):
        create_key(engine, "customer")
    with pytest.raises(ValueError, match="--store-id"):
        create_key(engine, "store")
    with pytest.raises(ValueError, match="--customer-id"):
        create_key(engine, "admin", customer_id="C1")
    with pytest.raises(ValueError, match="unknown role"):
        create_key(engine, "root")
    with pytest.raises(ValueError):
        require("admin", "nobody")


def test_missing_bad_and_revoked_keys_are_401(client: TestClient, engine) -> None:  # type: ignore[no-untyped-def]
    key, row = create_key(engine, "admin")
    assert client.get("/admin", headers=bearer(key)).json() == {"role": "admin"}
    for headers in ({}, bearer("rk_nonsense"), bearer("not-a-key"), {"Authorization": f"Basic {key}"}):
        response = client.get("/admin", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
    auth.revoke_key(engine, row.prefix)
    assert client.get("/admin", headers=bearer(key)).status_code == 401


def test_revocation_elsewhere_takes_effect_after_the_cache(client, engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    key, row = create_key(engine, "ops")
    assert client.get("/admin", headers=bearer(key)).status_code == 200
    monkeypatch.setattr(auth, "forget", lambda: None)  # as if another process revoked it
    auth.revoke_key(engine, row.prefix)
    assert client.get("/admin", headers=bearer(key)).status_code == 200  # cached for CACHE_SECONDS
    monkeypatch.setattr(auth.time, "monotonic", lambda: 1e12)
    assert client.get("/admin", headers=bearer(key)).status_code == 401


def test_wrong_role_customer_and_store_are_403(client: TestClient, engine) -> None:  # type: ignore[no-untyped-def]
    marketing, _ = create_key(engine, "marketing")
    assert client.get("/admin", headers=bearer(marketing)).status_code == 403
    customer, _ = create_key(engine, "customer", customer_id="C1")
    assert client.get("/customers/C1", headers=bearer(customer)).status_code == 200
    assert client.get("/customers/C2", headers=bearer(customer)).status_code == 403
    store, _ = create_key(engine, "store", store_id="S1")
    assert client.get("/stores/S1", headers=bearer(store)).status_code == 200
    assert client.get("/stores/S2", headers=bearer(store)).status_code == 403
    admin, _ = create_key(engine, "admin")
    assert client.get("/customers/C2", headers=bearer(admin)).status_code == 200


def test_a_customer_key_may_not_act_for_a_guest() -> None:
    with pytest.raises(Exception, match="own customer"):
        check_customer(Caller(1, "customer", "C1", None), None)
    check_customer(Caller(2, "sales_rep", None, None), None)
