"""GET /forecast, overrides with their audit trail, and forecast accuracy, for planners and finance.

Each route is a thin wrapper (auth, dependencies) over a plain function: `score` (the forecast), `add_override`,
`remove_override`, `overrides` and `accuracy`; a request they refuse raises `Rejected`, which the route answers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from retail import db
from serving.auth import AUTH_RESPONSES, Caller, key_label, require
from serving.endpoints.errors import Rejected
from serving.payloads import INVALID, UNAVAILABLE, Invalid, Responses, invalid, invalid_when
from serving.runtime import Runtime, runtime
from training.demand import adapter as demand

router = APIRouter(tags=["demand"])
READ_ROLES = ("admin", "ops", "planner", "marketing", "app")
WRITE_ROLES = ("admin", "planner")
READERS = require(*READ_ROLES)
WRITERS = require(*WRITE_ROLES)
Id = Annotated[str, Field(min_length=1, max_length=64)]
MAX_ID = 2**31 - 1
NOT_FOUND: Responses = {
    404: {"model": Invalid, "description": "A product, store or override the service does not know."}
}


class ForecastRequest(BaseModel):
    """One series' forecast: a product (and store; None: all stores), the next `horizon` periods (None: all)."""

    product_id: str
    store_id: str | None = None
    horizon: int | None = None


class ForecastPoint(BaseModel):
    ds: date
    p10: float
    p50: float
    p90: float
    adjusted: float = Field(description="P50 unless a planner's override covers this period.")
    override_id: int | None = None
    revenue_p50: float = Field(description="P50 at list price (or the recent selling price).")
    revenue_adjusted: float


class ForecastResponse(BaseModel):
    model_version: str
    as_of: date = Field(description="The forecast starts here: the day after the newest sales.")
    freq: str
    product_id: str
    store_id: str | None
    points: list[ForecastPoint]


@router.get(
    "/forecast",
    response_model=ForecastResponse,
    responses={
        **NOT_FOUND,
        **invalid_when("a `horizon` beyond the periods forecast"),
        **UNAVAILABLE,
        **AUTH_RESPONSES,
    },
)
def forecast(
    rt: Annotated[Runtime, Depends(runtime)],
    _: Annotated[Caller, Depends(READERS)],
    product_id: Annotated[str, Query(min_length=1, max_length=64)],
    store_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    horizon: Annotated[int | None, Query(ge=1, le=366, description="Periods (default: all stored).")] = None,
) -> ForecastResponse | JSONResponse:
    """The champion's stored forecast for one product (or product and store), model and adjusted side by side."""
    try:
        return score(rt, ForecastRequest(product_id=product_id, store_id=store_id, horizon=horizon))
    except Rejected as exc:
        return exc.response()


def score(rt: Runtime, request: ForecastRequest) -> ForecastResponse:
    """The stored forecast of one series with overrides applied; `Rejected` (404) for a series not forecast, (422)
    for a horizon beyond the periods forecast."""
    adapter = rt.adapter(demand.KEY)
    product_id, store_id, horizon = request.product_id, request.store_id, request.horizon
    if not adapter.known(product_id, store_id or ""):
        field, value = (
            ("store_id", store_id) if store_id and product_id in adapter.products() else ("product_id", product_id)
        )
        raise Rejected(404, invalid(field, "no forecast for this series", [value], "not_found", "query"))
    if horizon is not None and horizon > adapter.horizon:
        raise Rejected(
            422,
            invalid(
                "horizon", f"at most {adapter.horizon} periods are forecast", [horizon], "less_than_equal", "query"
            ),
        )
    rows = adapter.series(product_id, store_id or "", horizon or adapter.horizon)
    points = [ForecastPoint(**_point(r)) for r in rows.to_dict("records")]
    return ForecastResponse(
        model_version=adapter.version,
        as_of=adapter.as_of.date(),
        freq=adapter.freq,
        product_id=product_id,
        store_id=store_id,
        points=points,
    )


def _point(row: dict[str, Any]) -> dict[str, Any]:
    override = row.get("override_id")
    return {
        "ds": pd.Timestamp(row["ds"]).date(),
        **{k: float(row[k]) for k in ("p10", "p50", "p90", "adjusted", "revenue_p50", "revenue_adjusted")},
        "override_id": None if override is None or pd.isna(override) else int(override),
    }


class OverrideEdit(BaseModel):
    """What an edit of an override sets (PUT /forecast/overrides/{id}): its series stays the same."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "start": "2026-07-01",
                    "end": "2026-07-10",
                    "factor": 1.3,
                    "reason": "promotion extended to ten days",
                    "author": "planner@example.com",
                }
            ]
        },
    )

    start: date
    end: date
    # strict: a JSON number only (`true` or "12" is a 422, not 1.0 or 12.0)
    value: float | None = Field(
        default=None, ge=0, le=1e9, strict=True, description="Units per period in [start, end]."
    )
    factor: float | None = Field(
        default=None, gt=0, le=100, strict=True, description="Multiplies the P50 in [start, end]."
    )
    reason: str = Field(min_length=1, max_length=2000)
    author: str = Field(
        min_length=1, max_length=128, description="Who asked for it, in words; the API key used is recorded too."
    )

    @model_validator(mode="after")
    def one_adjustment(self) -> OverrideEdit:
        if (self.value is None) == (self.factor is None):
            raise ValueError("give exactly one of value and factor")
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class OverrideRequest(OverrideEdit):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "product_id": "P0001",
                    "start": "2026-07-01",
                    "end": "2026-07-07",
                    "factor": 1.2,
                    "reason": "summer promotion in the flyer",
                    "author": "planner@example.com",
                }
            ]
        },
    )

    product_id: Id
    store_id: Id | None = None


class KeyOut(BaseModel):
    """The API key that made a change: its id (`retail keys list`) and name (its prefix if it has none)."""

    id: int
    name: str


class AuditItem(BaseModel):
    action: str
    author: str
    key: KeyOut | None = Field(description="The API key used; None for changes made before keys were recorded.")
    at: datetime
    detail: str


class Override(BaseModel):
    id: int
    product_id: str
    store_id: str | None = Field(description="The store whose series it adjusts; None for the product's total.")
    start: date = Field(description="First day (or period) adjusted.")
    end: date = Field(description="Last day (or period) adjusted, inclusive.")
    value: float | None = Field(description="Units per period set over [start, end]; None when `factor` is used.")
    factor: float | None = Field(description="What the P50 is multiplied by; None when `value` is used.")
    reason: str = Field(description="Why, in the planner's words.")
    author: str = Field(description="Who asked for it, in words.")
    created_at: datetime
    replaced_value: float | None = Field(description="Adjusted units over [start, end] before this override.")
    replaced_override_id: int | None = Field(description="The newest older override in force it overlaps.")
    reverted_at: datetime | None
    reverted_by: str | None
    key: KeyOut | None = Field(description="The API key that created it (None if made before keys were recorded).")
    reverted_key: KeyOut | None = Field(description="The API key that reverted it.")
    audit: list[AuditItem] = []


def _utc(moment: datetime | None) -> datetime | None:
    """Stored timestamps are naive UTC; the API says so (RFC 3339 needs the offset)."""
    return moment.replace(tzinfo=UTC) if moment is not None else None


def _key(key_id: int | None, name: str | None) -> KeyOut | None:
    return None if key_id is None else KeyOut(id=key_id, name=name or "")


def _override(o: Any, trail: list[Any]) -> Override:
    own = ("audit", "store_id", "key", "reverted_key")
    fields = {k: getattr(o, k) for k in Override.model_fields if k not in own}
    fields |= {"created_at": _utc(o.created_at), "reverted_at": _utc(o.reverted_at)}
    audit = [
        AuditItem(
            action=a.action,
            author=a.author,
            key=_key(a.key_id, a.key_name),
            at=a.at.replace(tzinfo=UTC),
            detail=a.detail,
        )
        for a in trail
    ]
    return Override(
        **fields,
        store_id=o.store_id or None,
        key=_key(o.key_id, o.key_name),
        reverted_key=_key(o.reverted_key_id, o.reverted_key_name),
        audit=audit,
    )


@router.post(
    "/forecast/overrides",
    status_code=201,
    response_model=Override,
    responses={
        **NOT_FOUND,
        **invalid_when("`end` before `start` (a window of no days), or both or neither of `value` and `factor`"),
        **UNAVAILABLE,
        **AUTH_RESPONSES,
    },
)
def create_override(
    request: OverrideRequest, rt: Annotated[Runtime, Depends(runtime)], caller: Annotated[Caller, Depends(WRITERS)]
) -> Override | JSONResponse:
    """Adjust a forecast. Where it overlaps older overrides it wins; they are kept and apply again if it is reverted."""
    try:
        return add_override(rt, request, caller)
    except Rejected as exc:
        return exc.response()


def add_override(rt: Runtime, request: OverrideRequest, caller: Caller) -> Override:
    """Store the override, made with `caller`'s key, and its audit entry; `Rejected` (404) for a series not
    forecast."""
    adapter = rt.adapter(demand.KEY)
    store = request.store_id or ""
    if request.product_id not in adapter.products():
        raise Rejected(404, invalid("product_id", "unknown product", [request.product_id], "not_found"))
    if store and not adapter.known(request.product_id, store):
        raise Rejected(404, invalid("store_id", "no forecast for this store", [store], "not_found"))
    current = adapter.current(request.product_id, store)
    asked = demand.OverrideRequest(**(request.model_dump() | {"store_id": store}))
    with db.session(rt.ws, rt.settings) as s:
        created = demand.create_override(s, asked, current, demand.Key(caller.key_id, key_label(s, caller.key_id)))
        s.flush()
        return _override(created, demand.audit_trail(s, created.id))


@router.delete(
    "/forecast/overrides/{override_id}",
    response_model=Override,
    responses={
        **NOT_FOUND,
        409: {"model": Invalid, "description": "Already reverted."},
        **INVALID,
        **UNAVAILABLE,
        **AUTH_RESPONSES,
    },
)
def revert_override(
    override_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    author: Annotated[str, Query(min_length=1, max_length=128, description="Who reverts it.")],
    rt: Annotated[Runtime, Depends(runtime)],
    caller: Annotated[Caller, Depends(WRITERS)],
) -> Override | JSONResponse:
    """Revert an override (the forecast falls back to the model); the revert is itself audited."""
    try:
        return remove_override(rt, override_id, author, caller)
    except Rejected as exc:
        return exc.response()


def remove_override(rt: Runtime, override_id: int, author: str, caller: Caller) -> Override:
    """Revert an override with `caller`'s key, audited; `Rejected`: 404 unknown, 409 already reverted."""
    rt.adapter(demand.KEY)
    try:
        with db.session(rt.ws, rt.settings) as s:
            reverted = demand.revert_override(
                s, override_id, author, demand.Key(caller.key_id, key_label(s, caller.key_id))
            )
            s.flush()
            return _override(reverted, demand.audit_trail(s, override_id))
    except LookupError:
        raise Rejected(404, invalid("override_id", "unknown override", [override_id], "not_found", "path")) from None
    except ValueError as exc:
        raise Rejected(409, invalid("override_id", str(exc), [override_id], "conflict", "path")) from None


@router.put(
    "/forecast/overrides/{override_id}",
    response_model=Override,
    responses={
        **NOT_FOUND,
        409: {"model": Invalid, "description": "Already reverted (or edited)."},
        **invalid_when("`end` before `start`, or both or neither of `value` and `factor`"),
        **UNAVAILABLE,
        **AUTH_RESPONSES,
    },
)
def change_override(
    override_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    request: OverrideEdit,
    rt: Annotated[Runtime, Depends(runtime)],
    caller: Annotated[Caller, Depends(WRITERS)],
) -> Override | JSONResponse:
    """Edit an override: in one step it is closed and a new one on the same series takes its place; both keep their
    audit trail (the old one's "edited" entry names the new one and its own values; the new one's "created" entry
    has `edit_of`). The answer is the new override."""
    try:
        return edit_override(rt, override_id, request, caller)
    except Rejected as exc:
        return exc.response()


def edit_override(rt: Runtime, override_id: int, request: OverrideEdit, caller: Caller) -> Override:
    """Replace override `override_id` by `request` on its series with `caller`'s key, audited; `Rejected`: 404
    unknown, 409 already reverted."""
    adapter = rt.adapter(demand.KEY)
    change = demand.OverrideChange(**request.model_dump())
    try:
        with db.session(rt.ws, rt.settings) as s:
            key = demand.Key(caller.key_id, key_label(s, caller.key_id))
            created = demand.edit_override(s, override_id, change, adapter.current, key)
            s.flush()
            return _override(created, demand.audit_trail(s, created.id))
    except LookupError:
        raise Rejected(404, invalid("override_id", "unknown override", [override_id], "not_found", "path")) from None
    except ValueError as exc:
        raise Rejected(409, invalid("override_id", str(exc), [override_id], "conflict", "path")) from None


@router.get(
    "/forecast/overrides", response_model=list[Override], responses={**INVALID, **UNAVAILABLE, **AUTH_RESPONSES}
)
def list_overrides(
    rt: Annotated[Runtime, Depends(runtime)],
    _: Annotated[Caller, Depends(READERS)],
    product_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    include_closed: Annotated[bool, Query(description="Also reverted ones.")] = False,
) -> list[Override]:
    """Overrides with their audit trails, newest first."""
    return overrides(rt, product_id, include_closed)


def overrides(rt: Runtime, product_id: str | None = None, include_closed: bool = False) -> list[Override]:
    """Overrides (of one product, or all; reverted ones too with `include_closed`) with audit trails, newest first."""
    rt.adapter(demand.KEY)
    with demand.reading(rt.ws, rt.settings) as s:
        found = demand.list_overrides(s, product_id, include_closed)
        return [_override(o, demand.audit_trail(s, o.id)) for o in found]


class AccuracyRow(BaseModel):
    key: str
    rows: float
    units: float
    model_wape: float | None
    adjusted_wape: float | None
    model_bias: float | None
    adjusted_bias: float | None
    value_added: float | None


class AccuracyResponse(BaseModel):
    since: date
    until: date
    overall: AccuracyRow
    by_category: list[AccuracyRow]
    by_store: list[AccuracyRow]
    by_product: list[AccuracyRow] = Field(description="The 50 products with the most units.")


def _rows(table: pd.DataFrame, key: str) -> list[AccuracyRow]:
    table = table.astype(object).where(table.notna(), None)
    return [AccuracyRow(**(r | {"key": str(r.pop(key))})) for r in table.to_dict("records")]


@router.get(
    "/forecast/accuracy",
    response_model=AccuracyResponse,
    responses={
        404: {
            "model": Invalid,
            "description": "`since` is not before the end of the data, or no forecast is stored for days from it.",
        },
        **INVALID,
        **UNAVAILABLE,
        **AUTH_RESPONSES,
    },
)
def forecast_accuracy(
    rt: Annotated[Runtime, Depends(runtime)],
    _: Annotated[Caller, Depends(READERS)],
    since: Annotated[date, Query(description="First day to judge.")],
) -> AccuracyResponse | JSONResponse:
    """Stored forecasts against what sold, model and adjusted values (did the overrides help?)."""
    try:
        return accuracy(rt, since)
    except Rejected as exc:
        return exc.response()


def accuracy(rt: Runtime, since: date) -> AccuracyResponse:
    """Stored forecasts from `since` against what sold; `Rejected` (404) when there is nothing to judge."""
    rt.adapter(demand.KEY)
    try:
        result = demand.measure(rt.ws, rt.settings, pd.Timestamp(since))
    except ValueError as exc:
        raise Rejected(404, invalid("since", str(exc), [str(since)], "not_found", "query")) from None
    overall = pd.DataFrame([result.overall | {"key": "all"}])
    return AccuracyResponse(
        since=result.since.date(),
        until=result.until.date(),
        overall=_rows(overall, "key")[0],
        by_category=_rows(result.by["category"], "category"),
        by_store=_rows(result.by["store"], "store"),
        by_product=_rows(result.by["product"].head(50), "product_id"),
    )
