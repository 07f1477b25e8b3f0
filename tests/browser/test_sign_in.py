"""Signing in to the staff pages: session cookie, CSRF, roles, signing out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx


def test_a_page_without_a_session_sends_the_browser_to_sign_in_and_back(
    browser: Any, base_url: str, role_key: Callable[[str], str]
) -> None:
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.goto("/ui/")
    assert "/ui/login" in page.url and "next=%2Fui%2F" in page.url
    assert page.get_by_label("API key").is_visible()
    key = role_key("admin")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.url.endswith("/ui/")
    cookie = next(c for c in context.cookies() if c["name"] == "retail_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/ui"
    assert cookie["expires"] > 0  # not a browser-session cookie: it ends when the session does
    assert key not in page.content() and key not in cookie["value"]
    context.close()


def test_an_unknown_key_is_refused_on_the_form(browser: Any, base_url: str) -> None:
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.goto("/ui/login")
    page.fill("input[name=key]", "rk_notakey_at_all")
    with page.expect_response(lambda r: r.url.endswith("/ui/login") and r.request.method == "POST") as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 401
    assert "unknown or has been revoked" in page.inner_text("[role=alert]")
    assert not [c for c in context.cookies() if c["name"] == "retail_session"]
    context.close()


def test_the_menu_shows_only_the_pages_of_the_role(sign_in: Callable[..., Any], look: Callable[..., None]) -> None:
    admin = sign_in("admin")
    look(admin, "start")
    assert admin.locator("nav[aria-label=Pages] a").all_inner_texts() == [
        "Sales",
        "Forecasts",
        "Customers",
        "Feedback",
        "Models",
        "Order entry",
    ]
    planner = sign_in("planner")
    assert planner.locator("nav[aria-label=Pages] a").all_inner_texts() == ["Sales", "Forecasts"]
    rep = sign_in("sales_rep")
    assert rep.locator("nav[aria-label=Pages] a").all_inner_texts() == ["Customers", "Feedback", "Order entry"]
    assert rep.locator("main h2 a").all_inner_texts() == ["Customers", "Feedback", "Order entry"]


def test_a_form_posted_without_its_csrf_token_is_refused(sign_in: Callable[..., Any]) -> None:
    page = sign_in("admin")
    refused = page.request.post("/ui/logout", form={"csrf": "not-the-token"}, max_redirects=0)
    assert refused.status == 403
    refused = page.request.post("/ui/logout", form={}, max_redirects=0)
    assert refused.status == 403
    page.goto("/ui/")
    assert "/ui/login" not in page.url  # still signed in: nothing was done


def test_signing_out_ends_the_session_even_for_a_copied_cookie(sign_in: Callable[..., Any], base_url: str) -> None:
    page = sign_in("admin")
    cookie = next(c for c in page.context.cookies() if c["name"] == "retail_session")
    page.click("text=Sign out")
    page.wait_for_load_state()
    assert "/ui/login" in page.url
    replay = httpx.get(f"{base_url}/ui/", cookies={"retail_session": cookie["value"]}, follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"].startswith("/ui/login")


def test_a_cookie_is_no_api_key(sign_in: Callable[..., Any], base_url: str) -> None:
    """The JSON API takes bearer keys only: a page's cookie cannot call it (so no cross-site use of a session)."""
    page = sign_in("admin")
    cookie = next(c for c in page.context.cookies() if c["name"] == "retail_session")
    answer = httpx.get(f"{base_url}/models", cookies={"retail_session": cookie["value"]})
    assert answer.status_code == 401
