"""`retail db ...`: seed the application database from the workspace, check its invariants, export sales."""

from __future__ import annotations

from pathlib import Path

import typer

from retail.cliopts import WorkspaceOpt, command, workspace

db_app = typer.Typer(help="The application database: seed it, check it, export its sales.", no_args_is_help=True)


@db_app.command("init")
@command
def init(workspace_dir: WorkspaceOpt = Path(".")) -> None:
    """Add the workspace's customers, products, stores and stock to the database (idempotent: only adds)."""
    from retail import db
    from serving.commerce.seed import seed

    ws, settings = workspace(workspace_dir)
    added = seed(db.engine(ws, settings), ws)
    typer.echo("added " + ", ".join(f"{name}: {n:,}" for name, n in added.items()) + f" ({db.url(ws, settings)})")


@db_app.command("check")
@command
def check(workspace_dir: WorkspaceOpt = Path(".")) -> None:
    """Check stock, reservations, totals and histories; print each violation and exit 1 if there is any."""
    from retail import db
    from serving.commerce.checks import violations

    ws, settings = workspace(workspace_dir)
    found = violations(db.engine(ws, settings))
    for line in found:
        typer.echo(line)
    if found:
        typer.secho(f"{len(found)} violation(s)", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo("no violations")


@db_app.command("export-transactions")
@command
def export(workspace_dir: WorkspaceOpt = Path(".")) -> None:
    """Append paid, cancelled-after-payment and returned lines to the raw transactions, each exactly once."""
    from retail import db
    from serving.commerce.export import export_transactions

    ws, settings = workspace(workspace_dir)
    n = export_transactions(db.engine(ws, settings), ws)
    typer.echo(f"appended {n:,} lines to {ws.raw_table('transactions')}")
