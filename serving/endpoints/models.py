"""Which model versions serve, reloading them, and the registry actions ops take (promote, roll back), audited.

`GET /models` and `POST /models/reload` are thin routes over `statuses` and `reload`; the models page calls the same
functions, and `promote` / `rollback` (the gate of `retail models promote|rollback`, `training.promotion`) with an
audit entry each (`audit_log`, entity "model", the family as entity id).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from retail import db
from serving.auth import AUTH_RESPONSES, Caller, key_label, require
from serving.payloads import UNAVAILABLE, ModelStatus
from serving.runtime import Runtime, runtime
from training import promotion, tracking
from training.demand.tables import AuditEntry
from training.promotion import Decision

log = logging.getLogger(__name__)
router = APIRouter()
ROLES = ("admin", "ops")  # /models, /models/reload, `retail models promote|rollback`
OPERATORS = require(*ROLES)
ENTITY = "model"


@router.get("/models", response_model=list[ModelStatus], responses={**UNAVAILABLE, **AUTH_RESPONSES}, tags=["models"])
def models(rt: Annotated[Runtime, Depends(runtime)], _: Annotated[Caller, Depends(OPERATORS)]) -> list[ModelStatus]:
    """Which registered model versions are serving."""
    return statuses(rt)


@router.post(
    "/models/reload", response_model=list[ModelStatus], responses={**UNAVAILABLE, **AUTH_RESPONSES}, tags=["models"]
)
async def reload(
    request: Request, rt: Annotated[Runtime, Depends(runtime)], caller: Annotated[Caller, Depends(OPERATORS)]
) -> list[ModelStatus]:
    """Load the current champions from the registry without a restart."""
    return await reload_models(rt, getattr(request.app.state, "batchers", {}), caller)


def statuses(rt: Runtime) -> list[ModelStatus]:
    """The versions the service has loaded (503 while it is still loading)."""
    rt.require_ready()
    return rt.statuses()


async def reload_models(rt: Runtime, batchers: dict[str, Any], caller: Caller) -> list[ModelStatus]:
    """The champions loaded again, in the batchers' processes and in this one; audited with what changed."""
    rt.require_ready()
    before = {s.name: s.version for s in rt.statuses()}
    for remote in batchers.values():
        await remote.to_async.reload()
    loaded = await run_in_threadpool(rt.load_models)
    after = {s.name: s.version for s in loaded}
    await run_in_threadpool(audit, rt, "all", "reload", caller, {"before": before, "after": after})
    return loaded


def promote(rt: Runtime, family: str, caller: Caller, force: bool = False) -> Decision:
    """`retail models promote`: @champion to @challenger if it wins (or `force`); audited, refused or not."""
    client = tracking.connect(rt.ws, rt.settings)
    before = _aliases(client, family)
    decision = promotion.promote(client, family, force=force)
    detail = {"before": before, "after": _aliases(client, family), "force": force, **_decided(decision)}
    audit(rt, family, "promote", caller, detail)
    return decision


def rollback(rt: Runtime, family: str, caller: Caller) -> Decision:
    """`retail models rollback`: @champion back to the version it replaced; audited. ValueError: nothing to go to."""
    client = tracking.connect(rt.ws, rt.settings)
    before = _aliases(client, family)
    decision = promotion.rollback(client, family)
    detail = {"before": before, "after": _aliases(client, family), **_decided(decision)}
    audit(rt, family, "rollback", caller, detail)
    return decision


def _aliases(client: Any, family: str) -> dict[str, str | None]:
    return {alias: tracking.alias_version(client, family, alias) for alias in (tracking.CHAMPION, tracking.CHALLENGER)}


def _decided(decision: Decision) -> dict[str, Any]:
    return {k: v for k, v in asdict(decision).items() if k in ("promoted", "reason", "metric") or k.endswith("_score")}


def audit(rt: Runtime, family: str, action: str, caller: Caller, detail: dict[str, Any]) -> None:
    """One audit entry for a model action: the key's name as author, its id, and `detail` as JSON."""
    with db.session(rt.ws, rt.settings) as s:
        name = key_label(s, caller.key_id)
        s.add(
            AuditEntry(
                entity=ENTITY,
                entity_id=family,
                action=action,
                author=name,
                key_id=caller.key_id,
                key_name=name,
                at=datetime.now(UTC).replace(tzinfo=None),
                detail=json.dumps(detail, default=str),
            )
        )
    log.info("model %s: %s by key %s (%s)", family, action, caller.key_id, detail)


def recent_audit(rt: Runtime, limit: int = 20) -> list[AuditEntry]:
    """The newest model actions first."""
    with db.session(rt.ws, rt.settings) as s:
        query = select(AuditEntry).where(AuditEntry.entity == ENTITY).order_by(AuditEntry.id.desc()).limit(limit)
        return list(s.scalars(query).all())
