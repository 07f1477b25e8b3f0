"""`retail train recommender` and `retail predict recommender`.

Defaults come from the family's options (`training.recommend.options`); the work is imported when a command runs,
so `retail --help` does not load the model libraries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retail.cliopts import AliasOpt, DateOpt, OutOpt, WorkspaceOpt, command, predict_to_file, train_and_report
from retail.settings import get_settings
from training.recommend.options import HORIZON_DAYS, MODES, K, RecommenderOptions, RerankConfig

NAME = "recommender"


@command
def train(
    workspace_dir: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    horizon_days: Annotated[int, typer.Option(min=7, help="Held-out days before --as-of, and the label window.")] = (
        HORIZON_DAYS
    ),
) -> None:
    """Evaluate on the H days before --as-of (default: end of data) against the baselines, refit, register."""
    options = RecommenderOptions(config=RerankConfig(seed=get_settings().seed))
    result = train_and_report(NAME, workspace_dir, as_of, horizon_days, options)
    for line in decisions(workspace_dir, result.run_id):
        typer.echo(line)


def decisions(workspace_dir: Path, run_id: str) -> list[str]:
    """What serves each judged mode of the registered version, and the inner validation behind it (with its
    interval), as the run logged it."""
    from retail.cliopts import workspace
    from training import tracking
    from training.recommend.guard import describe, policy_from_params

    ws, settings = workspace(workspace_dir)
    params = tracking.connect(ws, settings).get_run(run_id).data.params
    policy = policy_from_params(params, "refit_policy_")
    if not policy:
        return []
    return ["per mode, for requests without a cart:"] + [f"  {describe(m, p)}" for m, p in policy.items()]


@command
def predict(
    out: OutOpt,
    workspace_dir: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    k: Annotated[int, typer.Option(min=1, max=100, help="Products per customer.")] = K,
    mode: Annotated[str, typer.Option(help=f"{', '.join(MODES[:-1])} or {MODES[-1]}.")] = MODES[0],
    alias: AliasOpt = "champion",
) -> None:
    """customer_id, rank, product_id, score, reason for every customer known before --as-of (campaign files)."""
    frame = predict_to_file(NAME, out, workspace_dir, as_of, alias, {"mode": mode, "k": k})
    typer.echo(f"wrote {len(frame):,} rows for {frame['customer_id'].nunique():,} customers to {out}")
