"""The models page for ops and data scientists: each family's champion and challenger, their metrics beside their
baselines on one evaluation, promotion notes and logged plots; promote, roll back and reload, each audited.

The figures are what `retail models list|compare` prints (`training.compare`, `training.promotion`, read through
`serving.web.model_registry`'s caches); the actions are `serving.endpoints.models`' functions, which `/models/reload`
and the CLI's gate share. Only admin and ops keys open it (`MODEL_ROLES`, as `/models`).
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from serving.auth import Caller, require
from serving.endpoints import models as actions
from serving.runtime import Runtime
from serving.web.model_registry import TTL, FamilyView, cells, registry
from serving.web.pages import BY_NAME
from serving.web.render import Form_, render
from serving.web.tables import Column, table
from training import families
from training.promotion import Decision

log = logging.getLogger(__name__)
router = APIRouter()
PAGE = BY_NAME["models"]
Ops = Annotated[Caller, Depends(require(*PAGE.roles))]
AUDIT_SHOWN = 20
AUDIT = (
    Column("at", "When (UTC)"),
    Column("family", "Family"),
    Column("action", "Action"),
    Column("author", "Key"),
    Column("key_id", "Key id", numeric=True),
    Column("change", "Change"),
)


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _family(name: str) -> str:
    """The family named in the path, or 404 naming it."""
    if name not in families.names():
        raise HTTPException(status_code=404, detail=f"family: no model family {name!r} ({', '.join(families.names())})")
    return name


@router.get("/models", response_class=HTMLResponse)
async def models_page(
    request: Request,
    _: Ops,
    audit_sort: Annotated[str | None, Query(max_length=40)] = None,
    fresh: Annotated[bool, Query(description="read the registry now, not the copy kept for a few seconds")] = False,
) -> Response:
    if fresh:
        rt = _runtime(request)
        for name in families.names():
            registry(rt.ws, rt.settings).invalidate(name)
    return await _page(request, audit_sort=audit_sort)


async def _page(
    request: Request, status_code: int = 200, said: str = "", refused: str = "", audit_sort: str | None = None
) -> Response:
    rt = _runtime(request)
    reg = registry(rt.ws, rt.settings)
    views = await run_in_threadpool(lambda: [reg.view(name) for name in families.names()])
    compared = await run_in_threadpool(reg.comparisons, views)
    serving = {s.name: s.version for s in rt.statuses()}
    entries = await run_in_threadpool(actions.recent_audit, rt, AUDIT_SHOWN)
    audit = table("audit", AUDIT, [_audit_row(e) for e in entries], audit_sort or "-at", per_page=AUDIT_SHOWN)
    return render(
        request,
        "models.html",
        status_code=status_code,
        title="Models",
        cards=[_card(v, compared.get(v.name), serving.get(v.name)) for v in views],
        audit=audit,
        said=said,
        refused=refused,
        mlflow_ui=rt.settings.mlflow_ui_url,
        ttl=int(TTL),
    )


def _card(view: FamilyView, compared: Any, serving: str | None) -> dict[str, Any]:
    """What the template shows of one family."""
    family = families.family(view.name)
    card: dict[str, Any] = {
        "view": view,
        "serving": serving,
        "metric": family.primary_metric,
        "higher": family.higher_is_better,
        "pending": view.champion is not None and compared is None,
        "problem": compared.problem if compared is not None else "",
        "metrics": [],
        "rows": [],
        "versions": _versions(view),
    }
    if compared is not None and compared.table is not None:
        card["metrics"], card["rows"] = cells(compared.table)
    return card


def _versions(view: FamilyView) -> list[dict[str, Any]]:
    rows = []
    for r in view.versions.to_dict("records"):
        notes = [n for n in (r["promotion"], r["baseline_check"] and f"lost to a baseline: {r['baseline_check']}") if n]
        rows.append({**r, "notes": "; ".join(notes)})
    return rows


def _audit_row(entry: Any) -> dict[str, Any]:
    try:
        detail = json.loads(entry.detail)
    except ValueError:
        detail = {}
    before, after = detail.get("before") or {}, detail.get("after") or {}
    change = ", ".join(
        f"{k} {before.get(k) or '-'} → {after.get(k) or '-'}" for k in after if before.get(k) != after.get(k)
    )
    if detail.get("reason"):
        change = "; ".join(x for x in (change or "no change", detail["reason"]) if x)
    return {
        "at": entry.at.strftime("%Y-%m-%d %H:%M:%S"),
        "family": entry.entity_id,
        "action": entry.action,
        "author": entry.author,
        "key_id": entry.key_id,
        "change": change or "no change",
    }


@router.get("/models/{family}/{version}/artifact")
async def artifact(
    request: Request,
    family: str,
    version: Annotated[str, "a registered version"],
    path: Annotated[str, Query(min_length=1, max_length=300)],
    _: Ops,
) -> Response:
    """An image a registered version's run logged (listed by MLflow): never any other file."""
    rt = _runtime(request)
    if not version.isdigit():
        raise HTTPException(status_code=404, detail=f"version: {version!r} is not a version number")
    try:
        data, media = await run_in_threadpool(registry(rt.ws, rt.settings).artifact, _family(family), version, path)
    except LookupError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=3600"})


@router.post("/models/{family}/promote", response_class=HTMLResponse)
async def promote(
    request: Request, family: str, _csrf: Form_, caller: Ops, force: Annotated[bool, Form()] = False
) -> Response:
    """`retail models promote`: refused, with the reason, when the challenger does not win and force is off."""
    rt = _runtime(request)
    name = _family(family)
    try:
        d = await run_in_threadpool(actions.promote, rt, name, caller, force)
    except ValueError as exc:
        return await _page(request, 409, refused=f"{name}: {exc}")
    finally:
        registry(rt.ws, rt.settings).invalidate(name)
    scores = (
        ""
        if d.champion_score is None
        else f" ({d.metric}: champion {d.champion_score:.4f}, challenger {d.challenger_score:.4f})"
    )
    if not d.promoted:
        return await _page(
            request, 409, refused=f"{name}: not promoted, v{d.champion} stays champion: {d.reason}{scores}"
        )
    return await _page(request, said=f"{name}: v{d.champion} is champion ({d.reason}{scores}). Reload to serve it.")


def _scores(d: Decision) -> str:
    if d.champion_score is None or d.challenger_score is None:
        return ""
    return f" ({d.metric}: champion {d.champion_score:.4f}, challenger {d.challenger_score:.4f})"


@router.post("/models/{family}/rollback", response_class=HTMLResponse)
async def rollback(request: Request, family: str, _csrf: Form_, caller: Ops) -> Response:
    """`retail models rollback`: @champion back to the version it replaced."""
    rt = _runtime(request)
    name = _family(family)
    try:
        d = await run_in_threadpool(actions.rollback, rt, name, caller)
    except ValueError as exc:
        return await _page(request, 409, refused=f"{name}: not rolled back: {exc}")
    finally:
        registry(rt.ws, rt.settings).invalidate(name)
    return await _page(request, said=f"{name}: v{d.champion} is champion again ({d.reason}). Reload to serve it.")


@router.post("/models/reload", response_class=HTMLResponse)
async def reload(request: Request, _csrf: Form_, caller: Ops) -> Response:
    """What `POST /models/reload` does: every champion loaded again, in the batchers too."""
    rt = _runtime(request)
    loaded = await actions.reload_models(rt, getattr(request.app.state, "batchers", {}), caller)
    versions = ", ".join(f"{s.name} v{s.version}" for s in loaded) or "none"
    return await _page(request, said=f"Reloaded: serving {versions}.")
