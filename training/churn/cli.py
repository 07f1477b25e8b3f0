"""`retail train churn` and `retail predict churn` (imports stay light: the work is imported when run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retail.cliopts import AliasOpt, DateOpt, OutOpt, WorkspaceOpt, command, trained, workspace

NAME = "churn"


@command
def train(
    workspace_dir: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    horizon_days: Annotated[int, typer.Option(min=1, help="Churned = no purchase within this many days.")] = 90,
    cutoffs: Annotated[int, typer.Option(min=1, help="Number of weekly training cutoffs.")] = 20,
    tune: Annotated[int, typer.Option(min=0, help="Optuna trials (nested MLflow runs); 0 = defaults.")] = 0,
) -> None:
    """Evaluate on the H days before --as-of (default: end of data), refit on everything, register `churn`."""
    from training import families, run
    from training.churn.family import ChurnOptions

    ws, settings = workspace(workspace_dir)
    options = ChurnOptions(cutoffs=cutoffs, tune=tune)
    result = run.train(NAME, ws, settings, as_of, horizon_days, options)
    typer.echo(trained(NAME, result, families.family(NAME).list_columns))


@command
def predict(
    out: OutOpt,
    workspace_dir: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    alias: AliasOpt = "champion",
) -> None:
    """customer_id, churn_probability, risk_band, driver_1..3 for every customer known before --as-of."""
    from retail.files import check_suffix, write_frame

    check_suffix(out)  # fail before the slow imports and scoring
    from training import run

    ws, settings = workspace(workspace_dir)
    frame = run.predict(NAME, ws, settings, as_of, alias)
    write_frame(frame, out)
    typer.echo(f"wrote {len(frame):,} scores to {out}")
