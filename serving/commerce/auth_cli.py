"""`retail keys ...` and `retail webhooks ...`: API keys and the webhooks notifications go to, per workspace."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from retail.cliopts import WorkspaceOpt, command, workspace

keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Webhooks that receive order notifications (CRM, ERP).", no_args_is_help=True)


def _engine(workspace_dir: Path):  # type: ignore[no-untyped-def]
    from retail import db

    ws, settings = workspace(workspace_dir)
    return db.engine(ws, settings)


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


@keys_app.command("create")
@command
def keys_create(
    role: Annotated[str, typer.Option(help="admin, ops, marketing, planner, sales_rep, store, customer or app.")],
    workspace: WorkspaceOpt = Path("."),
    customer_id: Annotated[str | None, typer.Option(help="The customer a customer key is bound to.")] = None,
    store_id: Annotated[str | None, typer.Option(help="The store a store key is bound to.")] = None,
    name: Annotated[str | None, typer.Option(help="What the key is for (shown by `keys list`).")] = None,
) -> None:
    """Create a key; it is printed once, on the last line, and only its hash is kept."""
    from serving.auth import create_key

    key, row = create_key(_engine(workspace), role, customer_id=customer_id, store_id=store_id, name=name)
    typer.echo(f"created {row.role} key {row.prefix} (id {row.id}); it is shown only now:")
    typer.echo(key)


@keys_app.command("list")
@command
def keys_list(workspace: WorkspaceOpt = Path(".")) -> None:
    """Every key's prefix, role, binding, name, creation and revocation (never the key itself)."""
    from serving.auth import list_keys

    rows = list_keys(_engine(workspace))
    if not rows:
        typer.echo("no API keys: create one with `retail keys create --role admin`")
        return
    typer.echo(f"{'prefix':<12} {'role':<10} {'binding':<16} {'created':<17} {'revoked':<17} name")
    for r in rows:
        binding = f"customer {r.customer_id}" if r.customer_id else f"store {r.store_id}" if r.store_id else "-"
        line = f"{r.prefix:<12} {r.role:<10} {binding:<16} {_when(r.created_at):<17} {_when(r.revoked_at):<17} "
        typer.echo(line + (r.name or ""))


@keys_app.command("revoke")
@command
def keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix as `keys list` shows it (rk_ and 8 characters).")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Revoke a key: the service refuses it within a few seconds (its look-up cache)."""
    from serving.auth import CACHE_SECONDS, revoke_key

    row = revoke_key(_engine(workspace), prefix)
    typer.echo(f"revoked {row.role} key {row.prefix} at {_when(row.revoked_at)}; refused within {CACHE_SECONDS:.0f}s")


@webhooks_app.command("add")
@command
def webhooks_add(
    url: Annotated[str, typer.Argument(help="http(s) URL that receives each notification as a signed JSON POST.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Register a webhook for the notifications written from now on (not the history); prints its secret once."""
    from serving.commerce.webhook_admin import add_webhook

    row = add_webhook(_engine(workspace), url)
    typer.echo(f"webhook {row.id}: {row.url}")
    typer.echo("signing secret (X-Retail-Signature; shown only now, `webhooks rotate` makes a new one):")
    typer.echo(row.secret)


@webhooks_app.command("list")
@command
def webhooks_list(workspace: WorkspaceOpt = Path(".")) -> None:
    """Registered webhooks with how many notifications each has delivered, pending, failing and dead-lettered."""
    from serving.commerce.webhook_admin import webhook_status

    rows = webhook_status(_engine(workspace))
    if not rows:
        typer.echo("no webhooks: add one with `retail webhooks add URL`")
        return
    typer.echo(f"{'id':>4} {'delivered':>9} {'pending':>7} {'failing':>7} {'dead':>5}  url  (last error)")
    for s in rows:
        error = f"  ({s.last_error})" if s.last_error else ""
        typer.echo(f"{s.id:>4} {s.delivered:>9} {s.pending:>7} {s.failing:>7} {s.dead:>5}  {s.url}{error}")


@webhooks_app.command("rotate")
@command
def webhooks_rotate(
    webhook_id: Annotated[int, typer.Argument(help="The webhook's id as `webhooks list` shows it.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Give a webhook a new signing secret, printed once on the last line; the old one stops verifying at once."""
    from serving.commerce.webhook_admin import rotate_secret

    row = rotate_secret(_engine(workspace), webhook_id)
    typer.echo(f"webhook {row.id}: {row.url}: new signing secret (shown only now):")
    typer.echo(row.secret)


@webhooks_app.command("remove")
@command
def webhooks_remove(
    webhook_id: Annotated[int, typer.Argument(help="The webhook's id as `webhooks list` shows it.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Stop sending to a webhook (it is deactivated; its delivery record is kept)."""
    from serving.commerce.webhook_admin import remove_webhook

    row = remove_webhook(_engine(workspace), webhook_id)
    typer.echo(f"removed webhook {row.id}: {row.url}")


@webhooks_app.command("dead-letters")
@command
def webhooks_dead_letters(
    workspace: WorkspaceOpt = Path("."),
    webhook: Annotated[int | None, typer.Option(help="Only this webhook's (its id).")] = None,
) -> None:
    """Deliveries given up after RETAIL_WEBHOOK_MAX_ATTEMPTS tries; `webhooks retry ID` requeues one."""
    from serving.commerce.webhook_admin import dead_letters

    rows = dead_letters(_engine(workspace), webhook)
    if not rows:
        typer.echo("no dead letters")
        return
    typer.echo(f"{'id':>8} {'webhook':>7} {'order':<12} {'kind':<22} {'tries':>5} {'dead since':<17} last error")
    for d in rows:
        line = f"{d.outbox_id:>8} {d.webhook_id:>7} {d.order_id:<12} {d.kind:<22} {d.attempts:>5}"
        typer.echo(f"{line} {_when(d.dead_at):<17} {d.last_error or ''}")


@webhooks_app.command("retry")
@command
def webhooks_retry(
    delivery_id: Annotated[
        int | None, typer.Argument(help="The dead letter's id (X-Retail-Delivery) as `dead-letters` shows it.")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    webhook: Annotated[int | None, typer.Option(help="Only this webhook's (all of them without an id).")] = None,
) -> None:
    """Requeue dead letters with a fresh count of tries; each goes before its order's later pending entries."""
    from serving.commerce.webhook_admin import retry

    count = retry(_engine(workspace), delivery_id, webhook)
    typer.echo(f"requeued {count} dead letter{'s' if count != 1 else ''}")
