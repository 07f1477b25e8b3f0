"""`retail train churn` and `retail predict churn`.

Defaults come from the family's options (`training.churn.options`); the work is imported when a command runs, so
`retail --help` does not load the model libraries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retail.cliopts import AliasOpt, DateOpt, OutOpt, WorkspaceOpt, command, predict_to_file, train_and_report
from training.churn.options import HORIZON_DAYS, ChurnOptions

NAME = "churn"
DEFAULTS = ChurnOptions()
HorizonOpt = Annotated[int, typer.Option(min=1, help="Churned = no purchase within this many days.")]


@command
def train(
    workspace_dir: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    horizon_days: HorizonOpt = HORIZON_DAYS,
    cutoffs: Annotated[int, typer.Option(min=1, help="Number of weekly training cutoffs.")] = DEFAULTS.cutoffs,
    tune: Annotated[int, typer.Option(min=0, help="Optuna trials (nested MLflow runs); 0 = defaults.")] = DEFAULTS.tune,
) -> None:
    """Evaluate on the H days before --as-of (default: end of data), refit on everything, register `churn`."""
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
