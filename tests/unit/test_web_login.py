"""Where the sign-in form sends the browser afterwards: a staff page of this service, never another site."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest

from serving.web.login import _next

SITE = "https://shop.example/ui/login"


def _lands_on(target: str) -> tuple[str, str]:
    """Host and path a browser goes to after a redirect to `target` (browsers read `\\` as `/` in http URLs)."""
    where = urlsplit(urljoin(SITE, target.replace("\\", "/")))
    return where.netloc, where.path


@pytest.mark.parametrize("target", ["/ui/", "/ui/sales", "/ui/sales?start=2026-01-01&channel=web", "/ui/customers/C1"])
def test_a_staff_page_is_kept(target: str) -> None:
    assert _next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "/",
        "/ui",  # not under /ui/
        "/models",  # the JSON API, not a page
        "https://evil.example/ui/",
        "//evil.example/ui/",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/ui//evil.example",
        "/ui/\\\\evil.example",
        "javascript:alert(1)",
        " /ui/sales",
        "ui/sales",
    ],
)
def test_anything_else_goes_to_the_start_page(target: str | None) -> None:
    assert _next(target) == "/ui/"


@pytest.mark.parametrize(
    "target",
    [
        "/ui/\\evil.example",
        "/ui/\\/evil.example",
        "/ui/../\\\\evil.example",
        "/ui/%2F%2Fevil.example",
        "/ui/%5C%5Cevil.example",
        "/ui/@evil.example",
        "/ui/\t/evil.example",
    ],
)
def test_no_target_leaves_the_site(target: str) -> None:
    host, path = _lands_on(_next(target))
    assert host == "shop.example"
    assert path.startswith("/ui/") or path == "/"
