"""Stored forecasts and planners' overrides in the application database, with their audit trail.

A forecast run is stored whole or not at all. An override never overwrites another: overlapping overrides
coexist, the newest in force winning on each day, and each records the adjusted units it replaced and the
override it overlapped; a revert closes it (the earlier one applies again). Every change writes an audit entry
in the same transaction, naming the API key that made it (id and name) beside the free-text author.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from retail import db
from retail.settings import Settings
from retail.workspace import Workspace
from training.demand import frequency
from training.demand.tables import AuditEntry, ForecastOverride, ForecastRun, ForecastValue

log = logging.getLogger(__name__)
VALUE_COLUMNS = ["product_id", "store_id", "ds", "p10", "p50", "p90", "price"]


def now() -> datetime:
    """UTC, timezone-naive (the data contract's timestamps)."""
    return datetime.now(UTC).replace(microsecond=0, tzinfo=None)


@contextmanager
def reading(ws: Workspace, settings: Settings) -> Iterator[Session]:
    """A read-only transaction: on SQLite a plain (deferred) BEGIN, so it never takes or queues for the write lock."""
    with Session(db.reader(db.engine(ws, settings))) as s, s.begin():
        yield s


def store_run(
    s: Session, frame: pd.DataFrame, version: str, as_of: pd.Timestamp, level: str, freq: str, source: str
) -> int:
    """Store a forecast (replacing an earlier one of the same version, date, level and source); its id."""
    earlier = s.scalars(
        select(ForecastRun.id).where(
            ForecastRun.model_version == version,
            ForecastRun.as_of == as_of.date(),
            ForecastRun.level == level,
            ForecastRun.source == source,
        )
    ).all()
    if earlier:
        s.execute(delete(ForecastValue).where(ForecastValue.run_id.in_(earlier)))
        s.execute(delete(ForecastRun).where(ForecastRun.id.in_(earlier)))
    run = ForecastRun(
        model_version=version,
        as_of=as_of.date(),
        level=level,
        freq=frequency.stored(freq),
        source=source,
        created_at=now(),
    )
    s.add(run)
    s.flush()
    rows = frame.assign(store_id=frame.get("store_id", pd.Series("", index=frame.index)).fillna(""))
    rows = rows.assign(ds=pd.to_datetime(rows["ds"]).dt.date, run_id=run.id)[["run_id", *VALUE_COLUMNS]]
    s.execute(insert(ForecastValue), rows.to_dict("records"))
    return run.id


def load_run(s: Session, version: str, as_of: pd.Timestamp, level: str, source: str) -> pd.DataFrame | None:
    """The newest forecast `source` stored of `version` as of `as_of` at `level`, or None.

    Sources differ in coverage (an export may hold a few products), so a reader asks for its own.
    """
    run_id = s.scalar(
        select(ForecastRun.id)
        .where(
            ForecastRun.model_version == version,
            ForecastRun.as_of == as_of.date(),
            ForecastRun.level == level,
            ForecastRun.source == source,
        )
        .order_by(ForecastRun.id.desc())
        .limit(1)
    )
    if run_id is None:
        return None
    values = s.scalars(select(ForecastValue).where(ForecastValue.run_id == run_id)).all()
    frame = pd.DataFrame([{c: getattr(v, c) for c in VALUE_COLUMNS} for v in values], columns=VALUE_COLUMNS)
    frame["ds"] = pd.to_datetime(frame["ds"])
    return frame


def active_overrides(s: Session, product_ids: list[str] | None = None) -> pd.DataFrame:
    """Overrides in force (not reverted), newest first."""
    query = select(ForecastOverride).where(ForecastOverride.reverted_at.is_(None))
    if product_ids is not None:
        query = query.where(ForecastOverride.product_id.in_(product_ids))
    rows = s.scalars(query.order_by(ForecastOverride.id.desc())).all()
    columns = ["id", "product_id", "store_id", "start", "end", "value", "factor"]
    frame = pd.DataFrame([{c: getattr(o, c) for c in columns} for o in rows], columns=columns)
    for c in ("start", "end"):  # seconds, not pandas' nanoseconds: a window may end after 2262 (the API allows it)
        frame[c] = pd.Series(np.array(frame[c].tolist(), dtype="datetime64[s]"), index=frame.index)
    return frame


def adjust(frame: pd.DataFrame, overrides: pd.DataFrame) -> pd.DataFrame:
    """`adjusted` (P50 unless an override covers the row) and `override_id` for each forecast row."""
    out = frame.copy()
    out["adjusted"] = out["p50"].astype("float64")
    out["override_id"] = pd.array([None] * len(out), dtype="Int64")
    stores = out["store_id"].fillna("") if "store_id" in out else pd.Series("", index=out.index)
    for o in overrides.sort_values("id").itertuples():  # newest applied last: it wins where they overlap
        hit = (out["product_id"] == o.product_id) & (stores == o.store_id) & out["ds"].between(o.start, o.end)
        if not hit.any():
            continue
        value = o.value if pd.notna(o.value) else None
        out.loc[hit, "adjusted"] = value if value is not None else out.loc[hit, "p50"] * o.factor
        out.loc[hit, "override_id"] = o.id
    return out


@dataclass(frozen=True)
class OverrideRequest:
    product_id: str
    store_id: str
    start: date
    end: date
    value: float | None
    factor: float | None
    reason: str
    author: str


@dataclass(frozen=True)
class OverrideChange:
    """What an edit sets: the window, the value or factor, and why (the series stays the old override's)."""

    start: date
    end: date
    value: float | None
    factor: float | None
    reason: str
    author: str


@dataclass(frozen=True)
class Key:
    """The API key behind a change: its id and name (its prefix when it was created without one)."""

    id: int
    name: str


def _audit(s: Session, entity_id: int, action: str, author: str, detail: dict, key: Key | None) -> None:
    s.add(
        AuditEntry(
            entity="forecast_override",
            entity_id=str(entity_id),
            action=action,
            author=author,
            key_id=key.id if key else None,
            key_name=key.name if key else None,
            at=now(),
            detail=json.dumps(detail, default=str),
        )
    )


def create_override(
    s: Session,
    request: OverrideRequest,
    current: pd.DataFrame | None,
    key: Key | None = None,
    edit_of: int | None = None,
) -> ForecastOverride:
    """Record an override; on the days it shares with older overrides in force, it wins (they are kept).

    `current` is the champion's stored forecast for the series (with `adjusted`), to record what it replaced;
    `key` is the API key making the change (None from code that runs without one); `edit_of` the override an edit
    replaces (recorded in the audit entry).
    """
    if (request.value is None) == (request.factor is None):
        raise ValueError("give exactly one of value and factor")
    if request.end < request.start:
        raise ValueError(f"end {request.end} is before start {request.start}")
    overlapping = s.scalars(
        select(ForecastOverride).where(
            ForecastOverride.product_id == request.product_id,
            ForecastOverride.store_id == request.store_id,
            ForecastOverride.reverted_at.is_(None),
            ForecastOverride.start <= request.end,
            ForecastOverride.end >= request.start,
        )
    ).all()
    replaced = None
    if current is not None and len(current):
        days = current["ds"].between(pd.Timestamp(request.start), pd.Timestamp(request.end))
        replaced = float(current.loc[days, "adjusted"].sum()) if days.any() else None
    override = ForecastOverride(
        **request.__dict__,
        created_at=now(),
        key_id=key.id if key else None,
        key_name=key.name if key else None,
        replaced_value=replaced,
        replaced_override_id=max((o.id for o in overlapping), default=None),
    )
    s.add(override)
    s.flush()
    for old in overlapping:
        if old.id != edit_of:  # an edited one gets its own "edited" entry
            _audit(s, old.id, "overlapped", request.author, {"by": override.id}, key)
    detail = {**request.__dict__, "replaced_value": replaced} | ({"edit_of": edit_of} if edit_of else {})
    _audit(s, override.id, "created", request.author, detail, key)
    return override


def revert_override(s: Session, override_id: int, author: str, key: Key | None = None) -> ForecastOverride:
    """Close an override; its days fall back to older overrides in force, or the model."""
    override = s.get(ForecastOverride, override_id, with_for_update=True)
    if override is None:
        raise LookupError(f"no override {override_id}")
    if override.reverted_at is not None:
        raise ValueError(f"override {override_id} was already reverted by {override.reverted_by}")
    override.reverted_at, override.reverted_by = now(), author
    override.reverted_key_id, override.reverted_key_name = (key.id, key.name) if key else (None, None)
    _audit(s, override.id, "reverted", author, {"value": override.value, "factor": override.factor}, key)
    return override


def edit_override(
    s: Session,
    override_id: int,
    change: OverrideChange,
    current: Callable[[str, str], pd.DataFrame | None],
    key: Key | None = None,
) -> ForecastOverride:
    """Replace an override in force by a new one on the same series, in one transaction (nothing is overwritten).

    The old one is closed (audited "edited", naming the new one and its own values) and the new one is created
    as any override is (its `replaced_value` is what the old one made of those days), audited "created" with
    `edit_of`. `current(product_id, store_id)` is the series' adjusted forecast now.
    """
    old = s.get(ForecastOverride, override_id, with_for_update=True)
    if old is None:
        raise LookupError(f"no override {override_id}")
    if old.reverted_at is not None:
        raise ValueError(f"override {override_id} was already reverted by {old.reverted_by}")
    request = OverrideRequest(old.product_id, old.store_id, **change.__dict__)
    new = create_override(s, request, current(old.product_id, old.store_id), key, edit_of=old.id)
    old.reverted_at, old.reverted_by = now(), change.author
    old.reverted_key_id, old.reverted_key_name = (key.id, key.name) if key else (None, None)
    before = {k: getattr(old, k) for k in ("start", "end", "value", "factor", "reason")}
    _audit(s, old.id, "edited", change.author, {"into": new.id, **before}, key)
    return new


def audit_trail(s: Session, override_id: int) -> list[AuditEntry]:
    return list(
        s.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity == "forecast_override", AuditEntry.entity_id == str(override_id))
            .order_by(AuditEntry.id)
        ).all()
    )


def stored_values(s: Session, since: pd.Timestamp, until: pd.Timestamp) -> pd.DataFrame:
    """For each series and day in [since, until), the forecast of the newest run made before that day."""
    query = (
        select(
            ForecastRun.as_of,
            ForecastRun.model_version,
            ForecastRun.freq,
            *[getattr(ForecastValue, c) for c in VALUE_COLUMNS],
        )
        .join(ForecastValue, ForecastValue.run_id == ForecastRun.id)
        .where(ForecastValue.ds >= since.date(), ForecastValue.ds < until.date(), ForecastRun.as_of <= ForecastValue.ds)
    )
    frame = pd.DataFrame(s.execute(query).all(), columns=["as_of", "model_version", "freq", *VALUE_COLUMNS])
    if frame.empty:
        return frame
    frame["ds"] = pd.to_datetime(frame["ds"])
    frame = frame.sort_values("as_of").drop_duplicates(["product_id", "store_id", "ds"], keep="last")
    return frame.reset_index(drop=True).assign(p50=lambda f: f["p50"].astype(np.float64))


def list_overrides(s: Session, product_id: str | None, include_closed: bool) -> list[ForecastOverride]:
    query = select(ForecastOverride)
    if product_id is not None:
        query = query.where(ForecastOverride.product_id == product_id)
    if not include_closed:
        query = query.where(ForecastOverride.reverted_at.is_(None))
    return list(s.scalars(query.order_by(ForecastOverride.id.desc())).all())
