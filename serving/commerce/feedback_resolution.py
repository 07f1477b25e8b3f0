"""Resolving feedback: customer service marks an item done with a note, stored with the API key that did it and
audited (an `audit_log` entry, entity "feedback") in the same transaction. Resolving is idempotent: the first
resolution stands, a second changes nothing and adds no audit entry.
"""

from __future__ import annotations

import json
import logging

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from retail import db
from serving.commerce import events
from serving.commerce.errors import NotFound
from serving.commerce.feedback import FeedbackOut, as_out
from serving.commerce.tables import Feedback
from training.demand.tables import AuditEntry

log = logging.getLogger(__name__)

MAX_NOTE = 1000  # characters of a resolution note


class ResolveIn(BaseModel):
    """Resolving feedback: what was done about it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "Replacement sent."}]})

    note: str = Field(min_length=1, max_length=MAX_NOTE, description=f"1 to {MAX_NOTE:,} characters, not blank.")

    @field_validator("note")
    @classmethod
    def _not_blank(cls, note: str) -> str:
        if not note.strip():
            raise ValueError("note is blank: say what was done")
        if "\x00" in note:
            raise ValueError("note contains a NUL character")
        return note.strip()


def resolve(engine: Engine, feedback_id: int, note: str, key_id: int, key_name: str) -> tuple[FeedbackOut, bool]:
    """Mark feedback resolved with `note`, by the API key `key_id` (named `key_name`), with its audit entry, in one
    transaction; (the feedback, whether this call resolved it). Resolving it again changes nothing and adds no
    audit entry: the first resolution stands. `NotFound` for an unknown id."""
    at = events.now()
    with Session(engine, expire_on_commit=False) as s, s.begin():
        done = s.execute(  # only an open row changes: two concurrent resolutions cannot both win
            update(Feedback)
            .where(Feedback.id == feedback_id, Feedback.resolved_at.is_(None))
            .values(resolved_at=at, resolved_key_id=key_id, resolved_by=key_name, resolution_note=note)
            .execution_options(synchronize_session=False)
        )
        changed = bool(done.rowcount)  # type: ignore[attr-defined]
        if changed:
            s.add(
                AuditEntry(
                    entity="feedback",
                    entity_id=str(feedback_id),
                    action="resolved",
                    author=key_name,
                    at=at,
                    detail=json.dumps({"note": note}),
                    key_id=key_id,
                    key_name=key_name,
                )
            )
        row = s.get(Feedback, feedback_id, populate_existing=True)
        if row is None:
            raise NotFound(f"feedback_id: unknown feedback {feedback_id}", "feedback_id", feedback_id)
        view = as_out(row)
    if changed:
        log.info("feedback %d resolved by key %d", feedback_id, key_id)
    return view, changed


def audit_trail(engine: Engine, feedback_id: int) -> list[AuditEntry]:
    """The audit entries of one feedback item, oldest first."""
    with Session(db.reader(engine), expire_on_commit=False) as s:
        query = select(AuditEntry).where(AuditEntry.entity == "feedback", AuditEntry.entity_id == str(feedback_id))
        return list(s.scalars(query.order_by(AuditEntry.id)))
