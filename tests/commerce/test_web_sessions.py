"""Staff page sessions on both databases: sign-in, CSRF on the form, expiry, revocation, sign-out, open redirects."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from modelstubs import StubRuntime
from shopdata import stock_shop
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from retail.db import connect
from serving import auth, sessions
from serving.sessions import WebSession

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    auth.forget()
    yield stock_shop(connect(db_url))
    auth.forget()


@pytest.fixture
def service(shop: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The whole service's app in process (its runtime has no models: the start page needs none)."""
    from serving.service import app

    monkeypatch.setattr(app.state, "db_engine", shop, raising=False)
    monkeypatch.setattr(app.state, "runtime", StubRuntime(), raising=False)
    monkeypatch.setattr(app.state, "sessions", sessions.Config("test-secret", 1.0), raising=False)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


def key(engine: Engine, role: str) -> str:
    plain, _ = auth.create_key(engine, role)
    return plain


def sign_in(client: TestClient, api_key: str, next_: str = "/ui/") -> tuple[int, str]:
    form = client.get("/ui/login")
    token = CSRF.search(form.text)
    assert token is not None
    answer = client.post("/ui/login", data={"key": api_key, "csrf": token[1], "next": next_})
    return answer.status_code, answer.headers.get("location", "")


def test_a_key_signs_in_and_the_session_opens_pages(service: TestClient, shop: Engine) -> None:
    assert service.get("/ui/").status_code == 303  # no session yet: to sign-in
    status, where = sign_in(service, key(shop, "ops"))
    assert (status, where) == (303, "/ui/")
    page = service.get("/ui/")
    assert page.status_code == 200 and "Models" in page.text and "Customers" in page.text
    with Session(shop) as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 1


def test_the_sign_in_form_needs_its_own_csrf_token(service: TestClient, shop: Engine) -> None:
    service.get("/ui/login")
    answer = service.post("/ui/login", data={"key": key(shop, "admin"), "csrf": "forged", "next": "/ui/"})
    assert answer.status_code == 403 and "retail_session" not in answer.cookies
    with Session(shop) as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 0


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/ui//evil.example", "/v1/orders"])
def test_after_sign_in_the_browser_never_leaves_the_pages(service: TestClient, shop: Engine, target: str) -> None:
    assert sign_in(service, key(shop, "admin"), target) == (303, "/ui/")


def test_an_expired_session_and_a_revoked_key_send_the_browser_back_to_sign_in(
    service: TestClient, shop: Engine
) -> None:
    api_key = key(shop, "admin")
    sign_in(service, api_key)
    assert service.get("/ui/").status_code == 200
    with Session(shop) as s, s.begin():
        s.execute(update(WebSession).values(expires_at=datetime(2000, 1, 1)))
    assert service.get("/ui/").status_code == 303
    sign_in(service, api_key)
    assert service.get("/ui/").status_code == 200
    auth.revoke_key(shop, api_key)
    assert service.get("/ui/").status_code == 303


def test_a_tampered_cookie_is_no_session(service: TestClient, shop: Engine) -> None:
    sign_in(service, key(shop, "admin"))
    real = service.cookies["retail_session"]
    service.cookies.clear()
    service.cookies.set("retail_session", real[:-2] + ("AA" if not real.endswith("AA") else "BB"), path="/ui")
    assert service.get("/ui/").status_code == 303
    service.cookies.clear()
    service.cookies.set("retail_session", real, path="/ui")
    assert service.get("/ui/").status_code == 200  # the untouched cookie still works


def test_signing_out_ends_the_session_in_the_database(service: TestClient, shop: Engine) -> None:
    sign_in(service, key(shop, "admin"))
    page = service.get("/ui/")
    token = CSRF.search(page.text)
    assert token is not None
    cookie = service.cookies["retail_session"]
    assert service.post("/ui/logout", data={"csrf": token[1]}).status_code == 303
    with Session(shop) as s:
        assert s.scalar(select(WebSession.ended_at)) is not None
    service.cookies.clear()
    service.cookies.set("retail_session", cookie, path="/ui")
    assert service.get("/ui/").status_code == 303


def test_a_role_without_staff_pages_is_told_so(service: TestClient, shop: Engine) -> None:
    sign_in(service, key(shop, "app"))
    page = service.get("/ui/")
    assert page.status_code == 403 and "opens no staff pages" in page.text


def test_expired_sessions_are_forgotten_a_week_after(service: TestClient, shop: Engine) -> None:
    api_key = key(shop, "admin")
    sign_in(service, api_key)
    with Session(shop) as s, s.begin():
        s.execute(update(WebSession).values(expires_at=datetime.now() - timedelta(days=8)))
    sign_in(service, api_key)
    with Session(shop) as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 1


def test_pages_may_not_be_framed_by_another_site(service: TestClient, shop: Engine) -> None:
    for page in (service.get("/ui/login"), (sign_in(service, key(shop, "admin")), service.get("/ui/"))[1]):
        assert page.status_code == 200
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert page.headers["Cache-Control"] == "no-store"
