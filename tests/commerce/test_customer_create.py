"""POST /v1/customers on SQLite and PostgreSQL: order entry's "create" when "find" found no one."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from shopdata import T0, key, order_body, stock_shop
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from retail.db import connect
from serving import auth
from serving.commerce import customer_create, customers
from serving.commerce.customer_create import CustomerIn, EmailTaken, normal_email
from serving.commerce.tables import Customer

ANA = {"name": "Ana Silva", "email": " Ana.Silva@Example.COM\t", "region": "north"}


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    auth.forget()
    yield stock_shop(connect(db_url))
    auth.forget()


def count(engine: Engine, email: str) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(Customer).where(Customer.email == email)) or 0)


def test_create_then_order_for_the_new_customer(client: TestClient, shop: Engine) -> None:
    rep = key(shop, "sales_rep")
    created = client.post("/v1/customers", json=ANA, headers=rep)
    assert created.status_code == 201, created.text
    body = created.json()
    assert re.fullmatch(r"C[0-9A-F]{12}", body["customer_id"])
    assert (body["name"], body["email"], body["region"]) == ("Ana Silva", "ana.silva@example.com", "north")
    stored = customers.customer(shop, body["customer_id"])
    assert stored.model_dump(mode="json") == body
    assert customers.search(shop, "ana.silva@")[0][0].customer_id == body["customer_id"]  # "find" finds it now
    order = client.post(
        "/v1/orders", json=order_body(customer_id=body["customer_id"]), headers=rep | {"Idempotency-Key": "new-1"}
    )
    assert order.status_code == 201 and order.json()["customer_id"] == body["customer_id"]
    bare = client.post("/v1/customers", json={"name": "Bo", "email": "bo@example.org"}, headers=rep)
    assert bare.status_code == 201 and bare.json()["region"] is None
    assert bare.json()["customer_id"] != body["customer_id"]


def test_a_taken_email_is_a_409_naming_the_customer(client: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    first = client.post("/v1/customers", json=ANA, headers=admin).json()
    for email in ("ana.silva@example.com", "ANA.SILVA@EXAMPLE.COM", "\tana.silva@example.com "):
        again = client.post("/v1/customers", json={**ANA, "email": email, "name": "Other"}, headers=admin)
        assert again.status_code == 409, again.text
        assert again.json() == {
            "detail": f"email: customer {first['customer_id']} already has 'ana.silva@example.com'; use that customer",
            "customer_id": first["customer_id"],
        }
    assert count(shop, "ana.silva@example.com") == 1
    with Session(shop) as s, s.begin():  # an imported customer's email (kept in lower case, as the seed keeps it)
        s.execute(update(Customer).where(Customer.customer_id == "C2").values(email="kim@example.com"))
    imported = client.post("/v1/customers", json={"name": "Kim", "email": "Kim@example.com"}, headers=admin)
    assert imported.status_code == 409 and imported.json()["customer_id"] == "C2"


def test_concurrent_creates_with_one_email_make_one_customer(shop: Engine) -> None:
    body = CustomerIn.model_validate({"name": "Race", "email": "race@example.com"})
    start = threading.Barrier(8)

    def create(_: int) -> str:
        start.wait()  # all at once
        try:
            return customer_create.create_customer(shop, body).customer_id
        except EmailTaken as exc:
            return exc.customer_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(create, range(8)))
    assert len(ids) == 1 and count(shop, "race@example.com") == 1


def test_a_new_id_never_reuses_an_existing_one(shop: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with Session(shop) as s, s.begin():
        s.add(Customer(customer_id="CAAAAAAAAAAAA", created_at=T0))
    draws = iter(["aaaaaaaaaaaa", "aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr(customer_create.secrets, "token_hex", lambda n: next(draws))
    made = customer_create.create_customer(shop, CustomerIn(name="New", email="new@example.com"))
    assert made.customer_id == "CBBBBBBBBBBBB"


def test_bad_bodies_are_422s_naming_the_field(client: TestClient, shop: Engine) -> None:
    admin = key(shop, "admin")
    bad: list[tuple[dict[str, object], list[str]]] = [
        ({"name": "Ana"}, ["body", "email"]),
        ({"email": "a@example.com"}, ["body", "name"]),
        ({"name": "   ", "email": "a@example.com"}, ["body", "name"]),
        ({"name": " Ana", "email": "a@example.com"}, ["body", "name"]),
        ({"name": "Ana\u3000", "email": "a@example.com"}, ["body", "name"]),
        ({"name": "A\x00na", "email": "a@example.com"}, ["body", "name"]),
        ({"name": "A" * 129, "email": "a@example.com"}, ["body", "name"]),
        ({"name": "Ana", "email": "a@example.com", "region": ""}, ["body", "region"]),
        ({"name": "Ana", "email": "a@example.com", "region": "north "}, ["body", "region"]),
        ({"name": "Ana", "email": "a@example.com", "phone": "1"}, ["body", "phone"]),
        ({"name": "Ana", "email": 5}, ["body", "email"]),
    ]
    for email in ("ana", "ana@", "@example.com", "ana@example", "ana@@example.com", "a..b@example.com",
                  ".a@example.com", "a b@example.com", "ana@-example.com", "ana@example.c0m", "ana@exam_ple.com",
                  "anä@example.com", "a@" + "x" * 250 + ".com", "ana@xn--.com", "ana@xn--a-.com"):  # fmt: skip
        bad.append(({"name": "Ana", "email": email}, ["body", "email"]))
    for body, loc in bad:
        answer = client.post("/v1/customers", json=body, headers=admin)
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == loc, (body, answer.text)
    with Session(shop) as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 2  # only the shop's two


def test_plain_addresses_pass_and_are_kept_in_lower_case() -> None:
    for email, kept in (
        ("Ana.Silva+orders@Mail.Example.co.uk", "ana.silva+orders@mail.example.co.uk"),
        ("o'neil@example.ie", "o'neil@example.ie"),
        ("x@xn--bcher-kva.example", "x@xn--bcher-kva.example"),
        ("first_last-1@sub-domain.example.com", "first_last-1@sub-domain.example.com"),
    ):
        assert normal_email(email) == kept


def test_roles(client: TestClient, shop: Engine) -> None:
    for n, role in enumerate(("admin", "ops", "sales_rep")):
        made = client.post("/v1/customers", json={"name": "A", "email": f"r{n}@example.com"}, headers=key(shop, role))
        assert made.status_code == 201, role
    store = key(shop, "store", store_id="S1")
    assert client.post("/v1/customers", json={"name": "S", "email": "s@example.com"}, headers=store).status_code == 201
    for role, binding in (("customer", {"customer_id": "C1"}), ("marketing", {}), ("planner", {}), ("app", {})):
        refused = client.post(
            "/v1/customers", json={"name": "X", "email": "x@example.com"}, headers=key(shop, role, **binding)
        )
        assert refused.status_code == 403, role
    assert client.post("/v1/customers", json={"name": "X", "email": "x@example.com"}).status_code == 401
    assert count(shop, "x@example.com") == 0


def test_every_status_is_documented(client: TestClient) -> None:
    route = client.get("/openapi.json").json()["paths"]["/v1/customers"]["post"]
    assert {"201", "401", "403", "409", "422"} <= set(route["responses"])
    schema = route["responses"]["409"]["content"]["application/json"]["schema"]["$ref"]
    assert schema.endswith("/EmailTakenOut")


@settings(max_examples=200, deadline=None)
@given(st.from_regex(customer_create.EMAIL_PATTERN).filter(lambda e: 6 <= len(e) <= customer_create.EMAIL_MAX))
def test_every_email_the_schema_allows_is_accepted(email: str) -> None:
    """The OpenAPI pattern and the check agree, so a schema-valid email is never refused."""
    assert CustomerIn(name="A", email=email).email == email.strip().lower()
