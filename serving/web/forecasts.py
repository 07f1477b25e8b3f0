"""The forecasts page for planners: a product's (or store's) forecast with its band, overrides made, edited and
reverted with their audit trail, the overrides' forecast value added, and revenue by category and month.

Every figure comes from the API's functions in `serving.endpoints.demand` (`score`, `overrides`, `add_override`,
`edit_override`, `remove_override`, `accuracy`); a change made here is the change POST, PUT or DELETE
/forecast/overrides makes, with the signed-in key recorded.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from serving.auth import Caller, require
from serving.endpoints.demand import (
    OverrideEdit,
    OverrideRequest,
    add_override,
    edit_override,
    overrides,
    remove_override,
)
from serving.endpoints.errors import Rejected
from serving.runtime import Runtime, runtime
from serving.web import forecast_data, forecast_view
from serving.web.pages import BY_NAME, OVERRIDE_ROLES
from serving.web.render import Form_, render
from serving.web.tables import Column, csv_response, table
from training.demand.adapter import KEY

log = logging.getLogger(__name__)
router = APIRouter()
READERS = Depends(require(*BY_NAME["forecasts"].roles))
WRITERS = Depends(require(*OVERRIDE_ROLES))
Text = Annotated[str, Form(max_length=2000)]
Short = Annotated[str, Form(max_length=64)]
Id = Annotated[str, Query(max_length=64)]
REVENUE = [
    Column("category", "Category"),
    Column("month", "Month"),
    Column("revenue_p10", "P10 £", numeric=True),
    Column("revenue_p50", "P50 £", numeric=True),
    Column("revenue_p90", "P90 £", numeric=True),
]


def _url(**params: Any) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return "/ui/forecasts" + (f"?{urlencode(kept)}" if kept else "")


def _page(
    request: Request,
    rt: Runtime,
    caller: Caller,
    asked: forecast_view.Choice,
    revenue_sort: str | None = None,
    revenue_page: int = 1,
    saved: int | None = None,
    errors: list[str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    adapter = rt.adapter(KEY)
    cat = forecast_data.catalogue(adapter)
    choice = forecast_view.choose(adapter, cat, asked)
    since = choice.since or forecast_view.default_since(adapter)
    answer = forecast_view.forecast(rt, choice)
    judged = forecast_data.judged(rt, adapter, since)
    listed = [o for o in overrides(rt, choice.product_id, True) if (o.store_id or "") == choice.store_id]
    rows = [r for r in forecast_data.revenue(adapter) if not choice.category or r["category"] == choice.category]
    here = {"category": choice.category, "product_id": choice.product_id, "store_id": choice.store_id}
    first, last = forecast_view.window(answer)
    return render(
        request,
        "forecasts.html",
        status_code=status,
        title="Forecasts",
        adapter=adapter,
        cadence=forecast_view.cadence(adapter.freq),
        period=forecast_view.period(adapter.freq),
        choice=choice,
        since=since,
        categories=cat.categories,
        products=cat.of(choice.category)["product_id"].tolist(),
        stores=cat.stores.get(choice.product_id, []),
        answer=answer,
        chart=forecast_view.chart(adapter, answer),
        tiles=forecast_view.tiles(answer, judged, choice.category),
        unjudged=judged.content["detail"][0]["msg"] if isinstance(judged, Rejected) else None,
        overrides=[{"o": o, "trail": forecast_view.trail(o)} for o in listed],
        can_write=caller.role in OVERRIDE_ROLES,
        revenue=table("revenue", REVENUE, rows, revenue_sort, revenue_page),
        revenue_base=_url(**here, since=choice.since),
        revenue_csv=_url(category=choice.category).replace("/ui/forecasts", "/ui/forecasts/revenue.csv", 1),
        here=here,
        saved=saved,
        errors=errors or [],
        form=form or {},
        first=first,
        last=last,
    )


@router.get("/forecasts", response_class=HTMLResponse)
def forecasts_page(
    request: Request,
    rt: Annotated[Runtime, Depends(runtime)],
    caller: Annotated[Caller, READERS],
    category: Annotated[str, Query(max_length=128)] = "",
    product_id: Id = "",
    store_id: Id = "",
    since: date | None = None,
    revenue_sort: Annotated[str | None, Query(max_length=40)] = None,
    revenue_page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    saved: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    """A series' forecast and overrides, the overrides' value added, revenue by category and month."""
    asked = forecast_view.Choice(category, product_id, store_id, since)
    return _page(request, rt, caller, asked, revenue_sort, revenue_page, saved)


@router.get("/forecasts/revenue.csv")
def revenue_csv(
    rt: Annotated[Runtime, Depends(runtime)],
    _: Annotated[Caller, READERS],
    category: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    """Revenue P10, P50 and P90 by category and month, every row (of one category when asked)."""
    rows = [r for r in forecast_data.revenue(rt.adapter(KEY)) if not category or r["category"] == category]
    return csv_response("revenue_by_category_month.csv", REVENUE, rows)


class _Bad(ValueError):
    pass


def _number(name: str, text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise _Bad(f"{name}: not a number ({text!r})") from None


def _problems(exc: ValidationError | Rejected) -> list[str]:
    """Each problem as "field: message (value)"."""
    found = exc.errors() if isinstance(exc, ValidationError) else exc.content["detail"]
    out = []
    for e in found:
        where = ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path")) or "value, factor"
        out.append(f"{where}: {str(e['msg']).removeprefix('Value error, ')} ({e.get('input')!r})")
    return out


def _change(form: dict[str, str], author: str) -> dict[str, Any]:
    return {
        "start": form["start"],
        "end": form["end"],
        "value": _number("value", form["value"]),
        "factor": _number("factor", form["factor"]),
        "reason": form["reason"].strip(),
        "author": author,
    }


def _refused(
    request: Request, rt: Runtime, caller: Caller, form: dict[str, str], problems: list[str], status: int = 422
) -> HTMLResponse:
    asked = forecast_view.Choice(product_id=form["product_id"], store_id=form["store_id"])
    return _page(request, rt, caller, asked, errors=problems, form=form, status=status)


def _done(form: dict[str, str], saved: int) -> RedirectResponse:
    url = _url(product_id=form["product_id"], store_id=form["store_id"], saved=saved)
    return RedirectResponse(url + "#overrides", status_code=303)


@router.post("/forecasts/overrides", response_model=None)
def create(
    request: Request,
    me: Form_,
    rt: Annotated[Runtime, Depends(runtime)],
    caller: Annotated[Caller, WRITERS],
    product_id: Short,
    start: Short = "",
    end: Short = "",
    value: Short = "",
    factor: Short = "",
    reason: Text = "",
    store_id: Short = "",
) -> Response:
    """A new override (POST /forecast/overrides), then back to the series."""
    form = {"product_id": product_id, "store_id": store_id, "start": start, "end": end}
    form |= {"value": value, "factor": factor, "reason": reason, "action": "create"}
    try:
        asked = OverrideRequest(product_id=product_id, store_id=store_id or None, **_change(form, me.label))
        made = add_override(rt, asked, caller)
    except _Bad as exc:
        return _refused(request, rt, caller, form, [str(exc)])
    except (ValidationError, Rejected) as exc:
        return _refused(request, rt, caller, form, _problems(exc), getattr(exc, "status", 422))
    log.info("override %d made from the page by key %d", made.id, caller.key_id)
    return _done(form, made.id)


@router.post("/forecasts/overrides/{override_id}/edit", response_model=None)
def edit(
    request: Request,
    override_id: int,
    me: Form_,
    rt: Annotated[Runtime, Depends(runtime)],
    caller: Annotated[Caller, WRITERS],
    product_id: Short,
    start: Short = "",
    end: Short = "",
    value: Short = "",
    factor: Short = "",
    reason: Text = "",
    store_id: Short = "",
) -> Response:
    """Edit an override (PUT /forecast/overrides/{id}: closed and replaced by a new one), then back."""
    form = {"product_id": product_id, "store_id": store_id, "start": start, "end": end}
    form |= {"value": value, "factor": factor, "reason": reason, "action": f"edit-{override_id}"}
    try:
        made = edit_override(rt, override_id, OverrideEdit(**_change(form, me.label)), caller)
    except _Bad as exc:
        return _refused(request, rt, caller, form, [str(exc)])
    except (ValidationError, Rejected) as exc:
        return _refused(request, rt, caller, form, _problems(exc), getattr(exc, "status", 422))
    return _done(form, made.id)


@router.post("/forecasts/overrides/{override_id}/revert", response_model=None)
def revert(
    request: Request,
    override_id: int,
    me: Form_,
    rt: Annotated[Runtime, Depends(runtime)],
    caller: Annotated[Caller, WRITERS],
    product_id: Short,
    store_id: Short = "",
) -> Response:
    """Revert an override (DELETE /forecast/overrides/{id}), then back."""
    form = {"product_id": product_id, "store_id": store_id, "action": "revert"}
    try:
        reverted = remove_override(rt, override_id, me.label, caller)
    except Rejected as exc:
        return _refused(request, rt, caller, form, _problems(exc), exc.status)
    return _done(form, reverted.id)
