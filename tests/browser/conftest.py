"""The browser tier: Debian's Chromium, headless, driven by Playwright, against `retail serve` on the shared workspace.

No browser is downloaded: Playwright launches the system's (`chromium`, or `RETAIL_TEST_CHROMIUM`). Screenshots of
every page at a phone's and a desktop's width go to one folder (`RETAIL_SCREENSHOTS`, else a temporary one), printed
at the end of the run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

PHONE = 360
DESKTOP = 1280
SERIOUS = ("serious", "critical")


def _is_browser(item: pytest.Item) -> bool:
    return "tests/browser/" in str(item.fspath).replace(os.sep, "/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tier, and run it last: its pages place orders, store forecasts and move model aliases on the shared
    workspace and service, which the integration tier's exact checks (served = offline, version numbers) assume
    untouched."""
    for item in items:
        if _is_browser(item):
            item.add_marker(pytest.mark.browser)
    items[:] = [i for i in items if not _is_browser(i)] + [i for i in items if _is_browser(i)]


def _chromium() -> str:
    found = os.environ.get("RETAIL_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail(
            "the browser tier needs Debian's Chromium: `apt-get install chromium` (or set RETAIL_TEST_CHROMIUM)"
        )
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module: Playwright's sync API keeps an event loop running in this thread while it is
    open, which would break any later test that runs one (`asyncio.run`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chrome = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chrome
        chrome.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    """Where screenshots go (printed in the run's summary)."""
    folder = Path(os.environ.get("RETAIL_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    pytestconfig.stash[SHOTS] = folder
    return folder


SHOTS = pytest.StashKey[Path]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    folder = config.stash.get(SHOTS, None)
    if folder is not None:
        terminalreporter.write_line(f"staff page screenshots (phone {PHONE} px, desktop {DESKTOP} px): {folder}")


@pytest.fixture(scope="session")
def role_key(built: Any) -> Callable[[str], str]:
    """`role_key(role)`: an API key of that role on the shared workspace (one per role, made once)."""
    from retail import db
    from serving.auth import create_key

    made: dict[str, str] = {}

    def key(role: str) -> str:
        if role not in made:
            made[role], _ = create_key(db.engine(built.ws, built.settings), role, name=f"browser {role}")
        return made[role]

    return key


@pytest.fixture
def sign_in(browser: Any, base_url: str, role_key: Callable[[str], str]) -> Iterator[Callable[..., Any]]:
    """`sign_in(role)`: a fresh browser context signed in through the form with a key of that role; its page."""
    contexts: list[Any] = []

    def signed(role: str, width: int = DESKTOP) -> Any:
        context = browser.new_context(base_url=base_url, viewport={"width": width, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.goto("/ui/login")
        page.fill("input[name=key]", role_key(role))
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "/ui/login" not in page.url, page.content()[:2000]
        return page

    yield signed
    for context in contexts:
        context.close()


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical accessibility violations on the page (rule id: first offending element)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({v['nodes'][0]['target'] if v['nodes'] else ''})"
        for v in results.response["violations"]
        if v.get("impact") in SERIOUS
    ]


def horizontal_overflow(page: Any) -> int:
    """How many pixels the page is wider than the window (0: no horizontal scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


@pytest.fixture
def look(shots: Path) -> Callable[[Any, str], None]:
    """`look(page, name)`: screenshots at desktop and phone widths; fails on horizontal scrolling on the phone or on a
    serious accessibility violation."""

    def check(page: Any, name: str) -> None:
        page.set_viewport_size({"width": DESKTOP, "height": 900})
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(shots / f"{name}-desktop.png"), full_page=True)
        problems = serious_violations(page)
        assert problems == [], f"{name}: axe-core finds {problems}"
        page.set_viewport_size({"width": PHONE, "height": 800})
        page.wait_for_timeout(300)  # charts resize to the new width
        page.screenshot(path=str(shots / f"{name}-phone.png"), full_page=True)
        assert horizontal_overflow(page) <= 0, f"{name}: scrolls sideways at {PHONE} px"
        page.set_viewport_size({"width": DESKTOP, "height": 900})

    return check
