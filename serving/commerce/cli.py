"""The commerce domain's commands, one Typer app: `retail db`, `retail webhooks`, `retail loyalty`, `retail feedback`.

Imports stay light: each command imports its work when it runs, so `retail --help` does not load the domain.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from retail.cliopts import AliasOpt, WorkspaceOpt, command, engine, stamp, workspace

app = typer.Typer(help="The commerce domain: its database, webhooks, loyalty points and feedback.")
db_app = typer.Typer(help="The application database: seed it, check it, export its sales.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Webhooks that receive order notifications (CRM, ERP).", no_args_is_help=True)
loyalty_app = typer.Typer(help="Loyalty points: expire lapsed points.", no_args_is_help=True)
feedback_app = typer.Typer(help="Customer feedback left through the order API.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(db_app, name="db")
app.add_typer(loyalty_app, name="loyalty")
app.add_typer(feedback_app, name="feedback")


# `retail db ...`: seed the application database from the workspace, check its invariants, export sales.


@db_app.command("init")
@command
def db_init(workspace_dir: WorkspaceOpt = Path(".")) -> None:
    """Add the workspace's customers, products, stores and stock to the database (idempotent: only adds)."""
    from retail import db
    from serving.commerce.seed import seed

    ws, settings = workspace(workspace_dir)
    added = seed(db.engine(ws, settings), ws)
    typer.echo("added " + ", ".join(f"{name}: {n:,}" for name, n in added.items()) + f" ({db.url(ws, settings)})")


@db_app.command("check")
@command
def db_check(workspace_dir: WorkspaceOpt = Path(".")) -> None:
    """Check stock, reservations, totals and histories; print each violation and exit 1 if there is any."""
    from serving.commerce.checks import violations

    found = violations(engine(workspace_dir))
    for line in found:
        typer.echo(line)
    if found:
        typer.secho(f"{len(found)} violation(s)", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo("no violations")


@db_app.command("export-transactions")
@command
def db_export(workspace_dir: WorkspaceOpt = Path(".")) -> None:
    """Append paid, cancelled-after-payment and returned lines to the raw transactions, each exactly once."""
    from retail import db
    from serving.commerce.export import export_transactions

    ws, settings = workspace(workspace_dir)
    n = export_transactions(db.engine(ws, settings), ws)
    typer.echo(f"appended {n:,} lines to {ws.raw_table('transactions')}")


# `retail webhooks ...`: the webhooks notifications go to, per workspace.


@webhooks_app.command("add")
@command
def webhooks_add(
    url: Annotated[str, typer.Argument(help="http(s) URL that receives each notification as a signed JSON POST.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Register a webhook for the notifications written from now on (not the history); prints its secret once."""
    from serving.commerce.webhook_admin import add_webhook

    row = add_webhook(engine(workspace), url)
    typer.echo(f"webhook {row.id}: {row.url}")
    typer.echo("signing secret (X-Retail-Signature; shown only now, `webhooks rotate` makes a new one):")
    typer.echo(row.secret)


@webhooks_app.command("list")
@command
def webhooks_list(workspace: WorkspaceOpt = Path(".")) -> None:
    """Registered webhooks with how many notifications each has delivered, pending, failing and dead-lettered."""
    from serving.commerce.webhook_admin import webhook_status

    rows = webhook_status(engine(workspace))
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

    row = rotate_secret(engine(workspace), webhook_id)
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

    row = remove_webhook(engine(workspace), webhook_id)
    typer.echo(f"removed webhook {row.id}: {row.url}")


@webhooks_app.command("dead-letters")
@command
def webhooks_dead_letters(
    workspace: WorkspaceOpt = Path("."),
    webhook: Annotated[int | None, typer.Option(help="Only this webhook's (its id).")] = None,
) -> None:
    """Deliveries given up after RETAIL_WEBHOOK_MAX_ATTEMPTS tries; `webhooks retry ID` requeues one."""
    from serving.commerce.webhook_admin import dead_letters

    rows = dead_letters(engine(workspace), webhook)
    if not rows:
        typer.echo("no dead letters")
        return
    typer.echo(f"{'id':>8} {'webhook':>7} {'order':<12} {'kind':<22} {'tries':>5} {'dead since':<17} last error")
    for d in rows:
        line = f"{d.outbox_id:>8} {d.webhook_id:>7} {d.order_id:<12} {d.kind:<22} {d.attempts:>5}"
        typer.echo(f"{line} {stamp(d.dead_at):<17} {d.last_error or ''}")


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

    count = retry(engine(workspace), delivery_id, webhook)
    typer.echo(f"requeued {count} dead letter{'s' if count != 1 else ''}")


# `retail loyalty ...`: the points programme's batch jobs (expiry).

AsOfOpt = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
        help="Expire as of this UTC time (default now), YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS.",
    ),
]


@loyalty_app.command("expire")
@command
def loyalty_expire(workspace_dir: WorkspaceOpt = Path("."), as_of: AsOfOpt = None) -> None:
    """Expire earned points older than the policy's expiry that were not spent (first in, first out).

    Safe to run again (from cron, say): a second run as of the same time expires nothing.
    """
    from serving.commerce.loyalty import expire as expire_points

    customers, points = expire_points(engine(workspace_dir), as_of)
    typer.echo(f"expired {points:,} points of {customers:,} customers")


# `retail feedback score`: score the feedback stored while no sentiment model was registered.


@feedback_app.command("score")
@command
def feedback_score(workspace_dir: WorkspaceOpt = Path("."), alias: AliasOpt = "champion") -> None:
    """Score every unscored feedback row with the sentiment model behind --alias (label, score, version)."""
    from retail import db
    from serving.commerce.feedback import score_pending
    from training import families, run

    ws, settings = workspace(workspace_dir)
    model, version = run.load(ws, settings, "sentiment", alias)
    scorer = families.family("sentiment").adapter(model, version, ws)
    n = score_pending(db.engine(ws, settings), scorer)
    typer.echo(f"scored {n:,} feedback rows with sentiment version {version}")
