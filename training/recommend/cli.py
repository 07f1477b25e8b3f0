"""`retail train recommender` and `retail predict recommender` (imports stay light: the work is imported when run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retail.cliopts import AliasOpt, DateOpt, OutOpt, WorkspaceOpt, command, predict_to_file, train_and_report

NAME = "recommender"


@command
def train(
    workspace_dir: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    horizon_days: Annotated[int, typer.Option(min=7, help="Held-out days before --as-of, and the label window.")] = 30,
) -> None:
    """Evaluate on the H days before --as-of (default: end of data) against the baselines, refit, register."""
    from retail.settings import get_settings
    from training.recommend.family import RecommenderOptions
    from training.recommend.rerank import RerankConfig

    options = RecommenderOptions(config=RerankConfig(seed=get_settings().seed))
    train_and_report(NAME, workspace_dir, as_of, horizon_days, options)


@command
def predict(
    out: OutOpt,
    workspace_dir: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    k: Annotated[int, typer.Option(min=1, max=100, help="Products per customer.")] = 10,
    mode: Annotated[str, typer.Option(help="all, cross_sell or up_sell.")] = "all",
    alias: AliasOpt = "champion",
) -> None:
    """customer_id, rank, product_id, score, reason for every customer known before --as-of (campaign files)."""
    frame = predict_to_file(NAME, out, workspace_dir, as_of, alias, {"mode": mode, "k": k})
    typer.echo(f"wrote {len(frame):,} rows for {frame['customer_id'].nunique():,} customers to {out}")
