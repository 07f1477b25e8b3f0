"""`retail train churn` and `retail predict churn` (imports stay light: the work is imported when run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retail.cliopts import AliasOpt, DateOpt, OutOpt, WorkspaceOpt, command, predict_to_file, train_and_report

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
    from training.churn.family import ChurnOptions

    train_and_report(NAME, workspace_dir, as_of, horizon_days, ChurnOptions(cutoffs=cutoffs, tune=tune))


@command
def predict(
    out: OutOpt,
    workspace_dir: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    alias: AliasOpt = "champion",
) -> None:
    """customer_id, churn_probability, risk_band, driver_1..3 for every customer known before --as-of."""
    frame = predict_to_file(NAME, out, workspace_dir, as_of, alias, {})
    typer.echo(f"wrote {len(frame):,} scores to {out}")
