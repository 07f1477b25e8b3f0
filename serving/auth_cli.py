"""`retail keys ...`: the service's API keys, per workspace (create, list, revoke); imports stay light."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retail.cliopts import WorkspaceOpt, command, engine, stamp

keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
app = typer.Typer(help="The service's access: API keys.")
app.add_typer(keys_app, name="keys")


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

    key, row = create_key(engine(workspace), role, customer_id=customer_id, store_id=store_id, name=name)
    typer.echo(f"created {row.role} key {row.prefix} (id {row.id}); it is shown only now:")
    typer.echo(key)


@keys_app.command("list")
@command
def keys_list(workspace: WorkspaceOpt = Path(".")) -> None:
    """Every key's prefix, role, binding, name, creation and revocation (never the key itself)."""
    from serving.auth import list_keys

    rows = list_keys(engine(workspace))
    if not rows:
        typer.echo("no API keys: create one with `retail keys create --role admin`")
        return
    typer.echo(f"{'prefix':<12} {'role':<10} {'binding':<16} {'created':<17} {'revoked':<17} name")
    for r in rows:
        binding = f"customer {r.customer_id}" if r.customer_id else f"store {r.store_id}" if r.store_id else "-"
        line = f"{r.prefix:<12} {r.role:<10} {binding:<16} {stamp(r.created_at):<17} {stamp(r.revoked_at):<17} "
        typer.echo(line + (r.name or ""))


@keys_app.command("revoke")
@command
def keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix as `keys list` shows it (rk_ and 8 characters).")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Revoke a key: the service refuses it within a few seconds (its look-up cache)."""
    from serving.auth import CACHE_SECONDS, revoke_key

    row = revoke_key(engine(workspace), prefix)
    typer.echo(f"revoked {row.role} key {row.prefix} at {stamp(row.revoked_at)}; refused within {CACHE_SECONDS:.0f}s")
