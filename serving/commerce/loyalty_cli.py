"""`retail loyalty ...`: the points programme's batch jobs (expiry)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from retail.cliopts import WorkspaceOpt, command, workspace

loyalty_app = typer.Typer(help="Loyalty points: expire lapsed points.", no_args_is_help=True)

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
def expire(workspace_dir: WorkspaceOpt = Path("."), as_of: AsOfOpt = None) -> None:
    """Expire earned points older than the policy's expiry that were not spent (first in, first out).

    Safe to run again (from cron, say): a second run as of the same time expires nothing.
    """
    from retail import db
    from serving.commerce.loyalty import expire as expire_points

    ws, settings = workspace(workspace_dir)
    customers, points = expire_points(db.engine(ws, settings), as_of)
    typer.echo(f"expired {points:,} points of {customers:,} customers")
