"""`retail feedback score`: score the feedback stored while no sentiment model was registered."""

from __future__ import annotations

from pathlib import Path

import typer

from retail.cliopts import AliasOpt, WorkspaceOpt, command, workspace

feedback_app = typer.Typer(help="Customer feedback left through the order API.", no_args_is_help=True)


@feedback_app.command("score")
@command
def score(workspace_dir: WorkspaceOpt = Path("."), alias: AliasOpt = "champion") -> None:
    """Score every unscored feedback row with the sentiment model behind --alias (label, score, version)."""
    from retail import db
    from serving.commerce.feedback import score_pending
    from training import families, run

    ws, settings = workspace(workspace_dir)
    model, version = run.load(ws, settings, "sentiment", alias)
    scorer = families.family("sentiment").adapter(model, version, ws)
    n = score_pending(db.engine(ws, settings), scorer)
    typer.echo(f"scored {n:,} feedback rows with sentiment version {version}")
