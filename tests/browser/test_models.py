"""The models page: champions as `/models` serves them, comparisons as `retail models compare` computes them, logged
plots, and promote / roll back / reload with their confirmation, CSRF, refusals and audit entries."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from training import families, promotion, tracking
from training.compare import compare_with_champion

PENDING = "being computed"


def open_models(page: Any) -> Any:
    """The models page, the registry read now, once every family's comparison is in (the first visit computes them
    in the background)."""
    answer = page.goto("/ui/models?fresh=1")
    for _ in range(60):
        if page.locator(f"section[data-family] .missing:has-text('{PENDING}')").count() == 0:
            return answer
        page.wait_for_timeout(1000)
        answer = page.reload()
    raise AssertionError("the comparisons were still being computed after a minute")


def section(page: Any, family: str) -> Any:
    return page.locator(f"section[data-family={family}]")


def csrf(page: Any) -> str:
    return str(page.locator("input[name=csrf]").first.get_attribute("value"))


def confirm_and_click(page: Any, selector: str) -> str:
    """Click a button of a `data-confirm` form, accepting the browser's confirmation; the question asked."""
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    with page.expect_navigation():
        page.click(selector)
    return asked[0]


@pytest.fixture
def client(built: Any) -> Any:
    return tracking.connect(built.ws, built.settings)


def model_audit(built: Any) -> list[Any]:
    from retail import db
    from training.demand.tables import AuditEntry

    with db.session(built.ws, built.settings) as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.entity == "model").order_by(AuditEntry.id)).all())


def test_each_family_shows_the_champion_that_models_serves(
    sign_in: Callable[..., Any], http: httpx.Client, client: Any, look: Callable[..., None]
) -> None:
    page = sign_in("admin")
    assert open_models(page).status == 200
    serving = {s["name"]: s["version"] for s in http.get("/models").json()}
    assert set(serving) == set(families.names())
    for name, version in serving.items():
        card = section(page, name)
        assert card.locator("[data-serving]").get_attribute("data-serving") == version
        assert card.locator("[data-champion]").get_attribute("data-champion") == version
        assert tracking.alias_version(client, name, tracking.CHAMPION) == version
    look(page, "models")


def test_metrics_are_those_of_the_comparison(sign_in: Callable[..., Any], client: Any) -> None:
    page = sign_in("ops")
    open_models(page)
    for name in families.names():
        champion = tracking.alias_version(client, name, tracking.CHAMPION)
        challenger = tracking.alias_version(client, name, tracking.CHALLENGER)
        if challenger:
            expected = promotion.comparison(client, name, champion, challenger)
        else:
            expected = compare_with_champion(client, name, str(champion)).drop(index="challenger")
        table = section(page, name).locator(f"table[data-comparison={name}]")
        shown = table.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.model)")
        assert shown == list(expected.index)
        metrics = [c for c in expected.columns if c not in ("version", "rows")]
        for model, row in expected.iterrows():
            for metric in metrics:
                cell = table.locator(f"tr[data-model='{model}'] td[data-metric='{metric}']")
                raw = cell.get_attribute("data-value")
                if row[metric] is None or math.isnan(float(row[metric])):
                    assert raw == ""
                else:
                    assert float(raw) == pytest.approx(float(row[metric]), rel=1e-12), (name, model, metric)
        metric = families.family(name).primary_metric
        tile = section(page, name).locator(f"[data-kpi='{name}_champion_{metric}']")
        assert float(tile.get_attribute("data-value")) == pytest.approx(float(expected.loc["champion", metric]))


def test_a_logged_plot_is_shown_and_only_logged_images_are_served(
    sign_in: Callable[..., Any], client: Any, base_url: str
) -> None:
    page = sign_in("admin")
    open_models(page)
    images = page.locator("img[data-plot]")
    assert images.count() >= 1
    first = images.first
    first.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=first.element_handle())
    src = str(first.get_attribute("src"))
    answer = page.request.get(src)
    assert answer.status == 200 and answer.headers["content-type"] == "image/png"
    family, version = src.split("/")[3:5]
    run_id = client.get_model_version(family, version).run_id
    logged = [a.path for a in client.list_artifacts(run_id, "evaluation")]
    assert logged, "the run logs its evaluation set: a file that is not a plot"
    for path in (logged[0], "../../../../etc/passwd", "/etc/passwd", "plots/not_logged.png"):
        assert page.request.get(f"/ui/models/{family}/{version}/artifact", params={"path": path}).status == 404, path
    assert page.request.get(f"/ui/models/{family}/9999/artifact", params={"path": "plots/x.png"}).status == 404
    assert page.request.get("/ui/models/nosuch/1/artifact", params={"path": "plots/x.png"}).status == 404
    anonymous = httpx.get(f"{base_url}{src}", follow_redirects=False)
    assert anonymous.status_code == 303  # no session: sent to sign in, no image


@pytest.fixture
def copied_challenger(built: Any, client: Any) -> Iterator[tuple[str, str, str]]:
    """A churn challenger registered from the champion's own run (so it scores the same and cannot win); the
    registry as it was afterwards: the copy deleted and the champion's tags and alias put back."""
    name = "churn"
    champion = str(tracking.alias_version(client, name, tracking.CHAMPION))
    original = client.get_model_version(name, champion)
    tags = dict(original.tags)
    copy = client.create_model_version(name, original.source, run_id=original.run_id)
    client.set_registered_model_alias(name, tracking.CHALLENGER, copy.version)
    try:
        yield name, champion, str(copy.version)
    finally:
        client.set_registered_model_alias(name, tracking.CHAMPION, champion)
        client.delete_model_version(name, copy.version)
        now = client.get_model_version(name, champion).tags
        for key in set(now) - set(tags):
            client.delete_model_version_tag(name, champion, key)
        tracking.tag_version(client, name, champion, **tags)


def test_promote_is_refused_without_a_winning_challenger_then_forced_and_rolled_back(
    sign_in: Callable[..., Any], built: Any, client: Any, copied_challenger: tuple[str, str, str]
) -> None:
    name, champion, copy = copied_challenger
    page = sign_in("ops")
    open_models(page)
    missing = next(f for f in families.names() if f != name and not tracking.alias_version(client, f, "challenger"))
    refused = page.request.post(f"/ui/models/{missing}/promote", form={"csrf": csrf(page)})
    assert refused.status == 409 and "no @challenger" in refused.text()
    assert section(page, missing).locator("[data-action=promote]").count() == 0  # nothing to promote: no button
    before = len(model_audit(built))

    asked = confirm_and_click(page, f"section[data-family={name}] [data-action=promote]")
    assert f"v{copy}" in asked
    assert "did not beat champion" in page.inner_text("[data-refused]")
    assert tracking.alias_version(client, name, tracking.CHAMPION) == champion

    page.check(f"#force-{name}")
    confirm_and_click(page, f"section[data-family={name}] [data-action=promote]")
    assert f"v{copy} is champion" in page.inner_text("[data-said]")
    assert tracking.alias_version(client, name, tracking.CHAMPION) == copy
    assert section(page, name).locator("[data-champion]").get_attribute("data-champion") == copy

    asked = confirm_and_click(page, f"section[data-family={name}] [data-action=rollback]")
    assert f"v{champion}" in asked
    assert tracking.alias_version(client, name, tracking.CHAMPION) == champion
    entries = model_audit(built)[before:]
    assert [(e.entity_id, e.action) for e in entries] == [(name, "promote")] * 2 + [(name, "rollback")]
    details = [json.loads(e.detail) for e in entries]
    assert [d["promoted"] for d in details[:2]] == [False, True] and details[1]["force"] is True
    assert details[1]["before"]["champion"] == champion and details[1]["after"]["champion"] == copy
    assert details[2]["before"]["champion"] == copy and details[2]["after"]["champion"] == champion
    assert {e.author for e in entries} == {"browser ops"} and all(e.key_id for e in entries)
    shown = page.locator("table:has(caption:has-text('Promotions')) tbody tr").first.inner_text()
    assert "rollback" in shown and "browser ops" in shown


def test_reload_answers_and_is_audited(sign_in: Callable[..., Any], built: Any, http: httpx.Client) -> None:
    page = sign_in("admin")
    open_models(page)
    before = len(model_audit(built))
    confirm_and_click(page, "[data-action=reload]")
    serving = {s["name"]: s["version"] for s in http.get("/models").json()}
    said = page.inner_text("[data-said]")
    assert all(f"{name} v{version}" in said for name, version in serving.items())
    entries = model_audit(built)[before:]
    assert [(e.entity_id, e.action, e.author) for e in entries] == [("all", "reload", "browser admin")]
    assert json.loads(entries[0].detail)["after"] == serving


def test_a_planner_is_refused_and_a_form_without_csrf_does_nothing(
    sign_in: Callable[..., Any], built: Any, client: Any
) -> None:
    planner = sign_in("planner")
    assert planner.goto("/ui/models").status == 403
    assert "Models" not in planner.locator("nav[aria-label=Pages]").inner_text()
    token = csrf(planner)
    for action in ("churn/promote", "churn/rollback", "reload"):
        assert planner.request.post(f"/ui/models/{action}", form={"csrf": token}).status == 403
    assert planner.request.get("/ui/models/churn/1/artifact", params={"path": "plots/calibration.png"}).status == 403
    admin = sign_in("admin")
    before = (len(model_audit(built)), tracking.alias_version(client, "churn", tracking.CHAMPION))
    for action in ("churn/promote", "churn/rollback", "reload"):
        assert admin.request.post(f"/ui/models/{action}", form={"csrf": "wrong", "force": "true"}).status == 403
        assert admin.request.post(f"/ui/models/{action}", form={}).status == 403
    assert (len(model_audit(built)), tracking.alias_version(client, "churn", tracking.CHAMPION)) == before


def test_the_page_cache_answers_from_its_copy_and_reads_again_in_the_background(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No browser: the registry view is read once, re-read in the background when old, at once after `invalidate`;
    a comparison that failed for a passing reason is asked again, a lasting answer is kept."""
    import threading

    import pandas as pd

    from retail.settings import Settings
    from retail.workspace import Workspace
    from serving.web import model_registry
    from serving.web.model_registry import Compared, FamilyView, Registry

    reads: list[str] = []
    read_again = threading.Event()

    def read(self: Registry, family: str) -> FamilyView:
        reads.append(family)
        if len(reads) == 3:
            read_again.set()
        return FamilyView(family, str(len(reads)), None, pd.DataFrame(), None)

    answers = iter([Compared(problem="registry down", lasting=False), Compared(pd.DataFrame({"auc": [0.7]}))])
    monkeypatch.setattr(Registry, "_read", read)
    monkeypatch.setattr(Registry, "_compare", lambda self, family, champion, challenger: next(answers))
    reg = Registry(Workspace.at(tmp_path), Settings(workspace=tmp_path))
    assert reg.view("churn").champion == "1" and reg.view("churn").champion == "1" and reads == ["churn"]
    monkeypatch.setattr(model_registry, "TTL", 0.0)
    reg.invalidate("churn")
    assert reg.view("churn").champion == "2"  # read before answering
    assert reg.view("churn").champion == "2"  # old at once (TTL 0): the copy, and a read in the background
    assert read_again.wait(5) and len(reads) == 3
    view = reg.view("churn")
    assert reg.comparisons([view])["churn"] == Compared(problem="registry down", lasting=False)
    assert reg.comparisons([view])["churn"].table is not None  # asked again
    assert reg.comparisons([view])["churn"].table is not None  # kept: `answers` has nothing left


@pytest.mark.parametrize("url", ["http://mlflow.internal:5000/", None])
def test_the_mlflow_ui_is_linked_only_when_configured(url: str | None) -> None:
    """No browser: the page's template with and without `RETAIL_MLFLOW_UI_URL`."""
    from serving.web.models import AUDIT
    from serving.web.render import templates
    from serving.web.tables import table

    context = {"me": None, "menu": [], "csrf": "t", "path": "/ui/models", "cards": [], "said": "", "refused": ""}
    html = templates.get_template("models.html").render(
        **context, audit=table("audit", AUDIT, []), mlflow_ui=url, ttl=30
    )
    links = [line for line in html.splitlines() if "data-mlflow-ui" in line]
    assert (links and f'href="{url}"' in links[0]) if url else not links
