"""`retail train recommender` and `retail predict recommender`.

Imports stay light (`retail --help` loads every family's CLI): the family, which loads LightGBM, implicit and
MLflow, is imported when a command runs, and an option left out takes the family's default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from retail.cliopts import AliasOpt, DateOpt, OutOpt, WorkspaceOpt, command, predict_to_file, train_and_report

NAME = "recommender"


@command
def train(
    workspace_dir: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    horizon_days: Annotated[
        int | None,
        typer.Option(min=7, help="Held-out days before --as-of, and the label window (default: the family's)."),
    ] = None,
) -> None:
    """Evaluate on the H days before --as-of (default: end of data) against the baselines, refit, register."""
    # deliberately lazy (see the module's docstring)
    from retail.settings import get_settings
    from training.recommend.family import FAMILY, RecommenderOptions
    from training.recommend.rerank import RerankConfig

    horizon = FAMILY.default_horizon_days if horizon_days is None else horizon_days
    options = RecommenderOptions(config=RerankConfig(seed=get_settings().seed))
    train_and_report(NAME, workspace_dir, as_of, horizon, options)


@command
def predict(
    out: OutOpt,
    workspace_dir: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    k: Annotated[
        int | None, typer.Option(min=1, max=100, help="Products per customer (default: the family's).")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="all, cross_sell or up_sell (default: all).")] = None,
    alias: AliasOpt = "champion",
) -> None:
    """customer_id, rank, product_id, score, reason for every customer known before --as-of (campaign files)."""
    given: dict[str, Any] = {"mode": mode, "k": k}
    frame = predict_to_file(NAME, out, workspace_dir, as_of, alias, {o: v for o, v in given.items() if v is not None})
    typer.echo(f"wrote {len(frame):,} rows for {frame['customer_id'].nunique():,} customers to {out}")
