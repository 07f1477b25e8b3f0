"""Every staff page on a workspace imported from the real UCI Online Retail data (`../shared/data/online_retail`).

That data has one online shop and no stores, no channels, no reviews and no order API history: each page must
still answer (or refuse the role with 403), show no error page, and say what is missing instead of breaking.

The workspace is built once for the module the way a user would build it, as cheaply as is honest: the import,
`features build`, the order database (`retail db init`) and every family the data allows trained with its `tiny`
options (sentiment has no reviews to learn from, so it has no model: the pages must say so). Skipped only when
the data file is absent, as every real-data test is.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from retail.settings import Settings
from retail.workspace import Workspace

FAMILIES = ("churn", "recommender", "demand")  # every family but sentiment: no reviews in this data
# a staff role each page is not for (the menu's rules, serving/web/pages.py)
REFUSED = {
    "sales": "sales_rep",
    "forecasts": "sales_rep",
    "customers": "planner",
    "customer": "planner",
    "feedback": "planner",
    "models": "planner",
}


@dataclass(frozen=True)
class Online:
    ws: Workspace
    settings: Settings
    customer: str  # the customer with the most orders
    product: str  # the product with the most units sold
    seconds: float  # how long the build took (0 when reused)


def build(root: Path, data: Path) -> float:
    """Import, build features, seed the order database and train every family the data allows; seconds taken."""
    from features.build import build_features
    from features.importers import import_online_retail
    from features.rawio import write_tables
    from retail import db
    from serving.commerce.seed import seed
    from training import families, promotion, run, tracking
    from training.sentiment.batch import review_scores

    started = time.perf_counter()
    settings = Settings(workspace=root)
    ws = Workspace.at(root).ensure()
    write_tables(ws.raw_dir, import_online_retail(data))
    build_features(ws, settings, review_scores=review_scores)
    seed(db.engine(ws, settings), ws)
    for name in FAMILIES:
        result = run.train(name, ws, settings, **families.family(name).tiny)
        if result.lost:  # tiny settings may trail a baseline; the pages need a champion to show
            promotion.promote(tracking.connect(ws, settings), name, force=True)
    return time.perf_counter() - started


@pytest.fixture(scope="module")
def online(online_retail: Path, tmp_path_factory: pytest.TempPathFactory) -> Online:
    """The imported workspace (built once; with RETAIL_TEST_BUILT set, kept beside that folder and reused)."""
    keep = os.environ.get("RETAIL_TEST_BUILT")  # development only, as for the shared workspace
    root = Path(f"{keep.rstrip('/')}-online_retail") if keep else tmp_path_factory.mktemp("online_retail")
    done = root / "built.done"
    seconds = 0.0
    if not done.exists():
        seconds = build(root, online_retail)
        if keep:
            done.write_text(f"{seconds:.0f}\n")
    ws = Workspace.at(root)
    tx = ws.read_raw("transactions")
    assert tx is not None
    customer = str(tx.dropna(subset=["customer_id"]).groupby("customer_id")["order_id"].nunique().idxmax())
    product = str(tx.groupby("product_id")["quantity"].sum().idxmax())
    return Online(ws, Settings(workspace=root), customer, product, seconds)


@pytest.fixture(scope="module")
def online_url(online: Online, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from servers import serving

    with serving(online.ws.root, tmp_path_factory.mktemp("serve_online")) as base:
        yield base


@pytest.fixture(scope="module")
def as_role(browser: Any, online: Online, online_url: str) -> Iterator[Callable[[str], Any]]:
    """`as_role(role)`: a page signed in through the form with a new key of that role (one context per role)."""
    from retail import db
    from serving.auth import create_key

    pages: dict[str, Any] = {}
    contexts = []

    def page(role: str) -> Any:
        if role not in pages:
            key, _ = create_key(db.engine(online.ws, online.settings), role, name=f"online retail {role}")
            context = browser.new_context(base_url=online_url, viewport={"width": 1280, "height": 900})
            contexts.append(context)
            signed = context.new_page()
            signed.goto("/ui/login")
            signed.fill("input[name=key]", key)
            signed.click("button[type=submit]")
            signed.wait_for_load_state()
            assert "/ui/login" not in signed.url, signed.content()[:2000]
            pages[role] = signed
        return pages[role]

    yield page
    for context in contexts:
        context.close()


def paths(online: Online) -> dict[str, str]:
    """Each page's address on this workspace, with a real customer and product where it needs one."""
    return {
        "sales": "/ui/sales",
        "forecasts": f"/ui/forecasts?product_id={quote(online.product)}",
        "customers": f"/ui/customers?q={quote(online.customer[:-2])}",
        "customer": f"/ui/customers/{quote(online.customer)}",
        "feedback": "/ui/feedback",
        "models": "/ui/models",
    }


def opened(page: Any, path: str) -> tuple[int, list[str]]:
    """Go to `path`: the answer's status and the script errors the page raised while loading."""
    errors: list[str] = []

    def seen(error: Any) -> None:
        errors.append(str(error))

    page.on("pageerror", seen)
    answer = page.goto(path)
    page.wait_for_load_state("networkidle")
    page.remove_listener("pageerror", seen)
    return answer.status, errors


# what each page must say this data lacks, in a `.missing` note (words it must use, any case): one store and one
# channel, no categories; no store-level forecast, no categories; no names or emails to search; no order-API orders;
# no sentiment scores or model
MISSING = {
    "sales": ("store", "channel", "categor"),
    "forecasts": ("store", "categor"),
    "customers": ("email",),
    "customer": ("order api",),
    "feedback": ("sentiment",),
    "models": ("sentiment",),
}


@pytest.mark.parametrize("name", ["sales", "forecasts", "customers", "customer", "feedback", "models"])
def test_every_page_answers_on_imported_data_and_says_what_is_missing(
    name: str, online: Online, as_role: Callable[[str], Any], look: Callable[[Any, str], None]
) -> None:
    page = as_role("admin")
    status, errors = opened(page, paths(online)[name])
    body = page.inner_text("main")
    assert status == 200, f"{name}: {status}\n{body[:1500]}"
    assert errors == [], f"{name}: script errors {errors}"
    assert "Traceback" not in page.content() and "Internal Server Error" not in body
    assert page.locator("main h1").count() >= 1
    said = " ".join(page.locator(".missing").all_inner_texts()).lower()
    unsaid = [word for word in MISSING[name] if word not in said]
    assert not unsaid, f"{name}: no note says what this data lacks ({unsaid}); the notes: {said!r}"
    look(page, f"online-retail-{name}")


@pytest.mark.parametrize("name", ["sales", "forecasts", "customers", "customer", "feedback", "models"])
def test_a_role_the_page_is_not_for_is_refused(name: str, online: Online, as_role: Callable[[str], Any]) -> None:
    role = REFUSED[name]
    status, _ = opened(as_role(role), paths(online)[name])
    assert status == 403, f"{name} as {role}: {status}"
