"""The feedback page for customer service: feedback newest or by priority, filtered, exported; one item resolved
with a note; sentiment by product and week.

Every number comes from the functions the API calls: the list from `feedback.list_feedback` (as `GET
/v1/feedback` with the same filters), a resolution through `feedback_api.resolve` (as `POST
/v1/feedback/{id}/resolve`), the chart from `feedback_trend.sentiment_by_week`.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retail import db
from retail.settings import get_settings
from retail.workspace import Workspace
from serving.auth import Caller, engine_for, require
from serving.commerce import feedback, feedback_resolution, feedback_trend
from serving.commerce.errors import NotFound
from serving.commerce.feedback import FeedbackOut, Sentiment, Sort, Status
from serving.commerce.feedback_api import MAX_ID, RESOLVE_FEEDBACK, resolve
from serving.commerce.feedback_resolution import ResolveIn
from serving.commerce.payloads import Id
from serving.commerce.tables import Feedback, Order
from serving.web.charts import figure, spec
from serving.web.pages import BY_NAME, staff
from serving.web.render import Form_, render
from serving.web.tables import Column, csv_response, table

log = logging.getLogger(__name__)
router = APIRouter()
PAGE = BY_NAME["feedback"]
RESOLVERS = staff(*RESOLVE_FEEDBACK)
LIMIT = 500  # rows read for one view, as many as `GET /v1/feedback` answers at most; the filters narrow further
CACHED = 32  # listings kept per process
_listed: dict[tuple[object, ...], list[dict[str, Any]]] = {}
_drawn: dict[int, tuple[feedback_trend.Weekly, str]] = {}
_lock = threading.Lock()
TEXT_SHOWN = 160  # characters of a text in the table (the item's page shows it all)
Readers = Annotated[Caller, Depends(require(*PAGE.roles))]

COLUMNS = (
    Column("rank", "#", numeric=True),
    Column("created", "Received"),
    Column("customer_id", "Customer"),
    Column("product_id", "Product"),
    Column("rating", "Stars", numeric=True),
    Column("label", "Sentiment"),
    Column("score", "P(positive)", numeric=True),
    Column("customer_spend", "Customer spend", numeric=True),
    Column("text", "Text"),
    Column("status", "Status"),
)
CSV_COLUMNS = (
    Column("id", "id"),
    *COLUMNS[1:8],
    Column("text", "text"),
    Column("resolved_at", "resolved_at"),
    Column("resolved_by", "resolved_by"),
    Column("resolution_note", "resolution_note"),
)


class Filters(BaseModel):
    """The page's GET parameters: the API's filters (days instead of times) and the table's sort and page."""

    model_config = ConfigDict(extra="forbid")

    product_id: Id | None = None
    sentiment: Sentiment | None = None
    rating: int | None = Field(None, ge=1, le=5)
    since: date | None = Field(None, description="From this day on (UTC).")
    until: date | None = Field(None, description="Up to and including this day (UTC).")
    status: Status = "open"
    sort: Sort = "newest"
    items_sort: str | None = Field(None, max_length=40)
    items_page: int = Field(1, ge=1, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        """An empty form field means no filter."""
        return {k: v for k, v in data.items() if v != ""} if isinstance(data, dict) else data

    def times(self) -> tuple[datetime | None, datetime | None]:
        """[since, until) as the API takes them: midnight of the first day, midnight after the last."""
        since = datetime.combine(self.since, time()) if self.since else None
        until = datetime.combine(self.until + timedelta(days=1), time()) if self.until else None
        return since, until

    def query(self, **changes: Any) -> str:
        """These filters as a query string (without the table's sort and page unless changed)."""
        kept = self.model_dump(exclude={"items_sort", "items_page"}, exclude_none=True) | changes
        return urlencode({k: v for k, v in kept.items() if v is not None})


def _row(rank: int, f: FeedbackOut) -> dict[str, Any]:
    return {
        "rank": rank,
        "id": f.id,
        "created": f.created_at.strftime("%Y-%m-%d %H:%M"),
        "customer_id": f.customer_id,
        "product_id": f.product_id,
        "rating": f.rating,
        "label": f.label or "unscored",
        "score": None if f.score is None else round(f.score, 3),
        "customer_spend": f.customer_spend,
        "text": f.text,
        "status": "resolved" if f.resolved_at else "open",
        "resolved_at": f.resolved_at.strftime("%Y-%m-%d %H:%M") if f.resolved_at else None,
        "resolved_by": f.resolved_by,
        "resolution_note": f.resolution_note,
    }


def _signature(engine: Engine, priority: bool) -> tuple[object, ...]:
    """What changes when a listing may: feedback added, scored or resolved; with priority, orders placed or moved."""
    with Session(db.reader(engine)) as s:
        mark = s.execute(
            select(func.count(), func.max(Feedback.id), func.count(Feedback.score), func.count(Feedback.resolved_at))
        ).one()
        spend = s.execute(select(func.count(), func.max(Order.updated_at))).one() if priority else ()
    return (*mark, *spend)


def _rows(engine: Engine, filters: Filters) -> list[dict[str, Any]]:
    """The rows of `GET /v1/feedback` with these filters, numbered in the order asked for; kept per process until
    `_signature` changes (a page of the table, another sort or the CSV then costs no new query)."""
    asked = filters.model_dump(exclude={"items_sort", "items_page"})
    key = (id(engine), tuple(sorted(asked.items())), _signature(engine, filters.sort == "priority"))
    with _lock:
        hit = _listed.get(key)
    if hit is not None:
        return hit
    rows = _list(engine, filters)
    with _lock:
        if len(_listed) >= CACHED:
            _listed.clear()
        _listed[key] = rows
    return rows


def _list(engine: Engine, filters: Filters) -> list[dict[str, Any]]:
    since, until = filters.times()
    found = feedback.list_feedback(
        engine,
        filters.product_id,
        None,
        filters.sentiment,
        since,
        filters.sort,
        LIMIT,
        rating=filters.rating,
        until=until,
        status=filters.status,
    )
    return [_row(i, f) for i, f in enumerate(found, start=1)]


def _chart(request: Request, engine: Engine, filters: Filters) -> tuple[str | None, feedback_trend.Weekly]:
    """The weekly sentiment chart's plotly spec (None when nothing is scored in the window) and its figures."""
    runtime = getattr(request.app.state, "runtime", None)
    ws = runtime.ws if runtime is not None else Workspace.at(get_settings().workspace)
    reviews = feedback_trend.review_scores(ws.features_dir / "review_scores.parquet")
    since, until = filters.times()
    weekly = feedback_trend.sentiment_by_week(engine, reviews, since, until, filters.product_id)
    if weekly.weeks.empty:
        return None, weekly
    with _lock:
        drawn = _drawn.get(id(weekly))
    if drawn is not None and drawn[0] is weekly:  # the same (cached) result: the same figure
        return drawn[1], weekly
    drawing = _figure(weekly)
    with _lock:
        if len(_drawn) >= CACHED:
            _drawn.clear()
        _drawn[id(weekly)] = (weekly, drawing)
    return drawing, weekly


def _figure(weekly: feedback_trend.Weekly) -> str:
    """One line per product: its mean P(positive) per week."""
    fig = figure("Mean P(positive) per week", "", "mean P(positive)")
    for product_id in weekly.products:
        one = weekly.weeks[weekly.weeks["product_id"] == product_id]
        label = f"{one['name'].iloc[0]} ({product_id})"
        fig.add_scatter(
            x=one["week"].dt.strftime("%Y-%m-%d").tolist(),
            y=one["score"].round(3).tolist(),
            customdata=one["items"].tolist(),
            mode="lines+markers",
            name=label,
            hovertemplate="%{x}: %{y:.2f} (%{customdata} items)<extra>" + product_id + "</extra>",
        )
    first, last = weekly.weeks["week"].min(), weekly.weeks["week"].max()
    pad = pd.Timedelta(days=4)  # a single week still reads as a week, not as a moment
    fig.update_xaxes(type="date", tickformat="%d %b %Y", range=[str(first - pad), str(last + pad)])
    fig.update_yaxes(range=[0, 1])
    fig.update_layout(showlegend=True)  # name the product even when there is only one
    return spec(fig)


def _check_range(filters: Filters) -> str | None:
    if filters.since and filters.until and filters.until < filters.since:
        return f"until: {filters.until} is before since {filters.since}"
    return None


@router.get("/feedback", response_class=HTMLResponse)
async def feedback_page(request: Request, caller: Readers, filters: Annotated[Filters, Query()]) -> HTMLResponse:
    """Feedback for customer service, newest or by priority, with filters, the resolve link and the weekly chart."""
    engine = await engine_for(request)
    error, status, rows = _check_range(filters), 200, []
    if error is None:
        try:
            rows = await run_in_threadpool(_rows, engine, filters)
        except NotFound as exc:
            error = exc.message
    if error is not None:
        status = 404 if error.startswith("product_id") else 422
    chart, weekly = await run_in_threadpool(_chart, request, engine, filters)
    base = "/ui/feedback?" + filters.query()
    shown = table("items", COLUMNS, rows, filters.items_sort, filters.items_page)
    return render(
        request,
        "feedback.html",
        status_code=status,
        title=PAGE.label,
        filters=filters,
        error=error,
        items=shown,
        base=base,
        csv="/ui/feedback.csv?" + filters.query(),
        capped=len(rows) >= LIMIT,
        limit=LIMIT,
        text_shown=TEXT_SHOWN,
        chart=chart,
        weekly=weekly,
        can_resolve=caller.role in RESOLVERS,
    )


@router.get("/feedback.csv")
async def feedback_csv(request: Request, _: Readers, filters: Annotated[Filters, Query()]) -> Response:
    """The page's rows (every page of the table, in its order) as CSV."""
    engine = await engine_for(request)
    try:
        rows = await run_in_threadpool(_rows, engine, filters)
    except NotFound as exc:
        return render(request, "error.html", status_code=404, title="Not found", detail=exc.message)
    shown = table("items", COLUMNS, rows, filters.items_sort, 1, per_page=max(1, len(rows)))
    return csv_response("feedback.csv", CSV_COLUMNS, shown.rows)


def _item_page(
    request: Request, engine: Engine, caller: Caller, feedback_id: int, error: str | None = None, note: str = ""
) -> HTMLResponse:
    try:
        item = feedback.get(engine, feedback_id)
    except NotFound as exc:
        return render(request, "error.html", status_code=404, title="Not found", detail=exc.message)
    trail = [
        {"id": a.id, "at": a.at, "action": a.action, "who": a.key_name or a.author, "key_id": a.key_id}
        | {"note": json.loads(a.detail).get("note", "") if a.detail else ""}
        for a in feedback_resolution.audit_trail(engine, feedback_id)
    ]
    return render(
        request,
        "feedback_item.html",
        status_code=422 if error else 200,
        title=f"Feedback {feedback_id}",
        item=item,
        trail=trail,
        error=error,
        note=note,
        max_note=feedback_resolution.MAX_NOTE,
        can_resolve=caller.role in RESOLVERS,
        done=request.query_params.get("resolved"),
    )


@router.get("/feedback/{feedback_id}", response_class=HTMLResponse)
async def feedback_item(
    request: Request, caller: Readers, feedback_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> HTMLResponse:
    """One feedback item in full, its resolution and audit trail, and the resolve form for those who may."""
    engine = await engine_for(request)
    return await run_in_threadpool(_item_page, request, engine, caller, feedback_id)


@router.post("/feedback/{feedback_id}/resolve", response_model=None)
async def resolve_item(
    request: Request,
    _form: Form_,
    caller: Annotated[Caller, Depends(require(*RESOLVERS))],
    feedback_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    note: Annotated[str, Form()] = "",
) -> Response:
    """Resolve with a note (as `POST /v1/feedback/{id}/resolve`), then back to the item (POST-redirect-GET)."""
    engine = await engine_for(request)
    try:
        asked = ResolveIn(note=note)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"].removeprefix("Value error, ")
        shown = note if len(note) <= 80 else note[:80] + "…"
        error = f"note: {problem} (got {len(note):,} characters: {shown!r})"
        return await run_in_threadpool(_item_page, request, engine, caller, feedback_id, error, note)
    try:
        _, now = await run_in_threadpool(resolve, engine, caller, feedback_id, asked.note)
    except HTTPException as exc:  # an unknown id: the same 404 page as GET
        if exc.status_code != 404:
            raise
        return await run_in_threadpool(_item_page, request, engine, caller, feedback_id)
    return RedirectResponse(f"/ui/feedback/{feedback_id}?resolved={'now' if now else 'earlier'}", status_code=303)
