"""The recommender on UCI Online Retail under the shared protocol (../shared/data/README.md), through the product.

Imports the file into a temporary workspace, builds features and runs `train_recommender` as of the end of the
data with a 100-day held-out period, so the evaluation fit learns from purchases before 2011-09-01 and is judged
on each known customer's purchases from then on: exactly the protocol. Prints recall@10 and NDCG@10 of
popularity, repeat-then-popular, ALS alone, BPR alone and the full model, on all products and on never-bought products
(the model in cross_sell mode), and the training time (evaluation fit, baselines and the final refit). It never
fails on a time or a target. The model's figures are those of what is registered: per mode the model, a blend or
a baseline, as the inner validation decided (printed with its interval).

`--customers N --line-share S` reproduces sparse baskets: N customers drawn at random (seeded) and a share S of
their receipt lines, the rest (and guests) dropped before training; the model and popularity come close there.

    .venv/bin/python benchmarks/recommend_online_retail.py [--data FILE] [--verbose]
    .venv/bin/python benchmarks/recommend_online_retail.py --customers 2000 --line-share 0.3 [--seed 0]
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from features.build import build_features
from features.importers import import_online_retail
from features.rawio import write_tables
from retail.settings import Settings
from retail.workspace import Workspace
from training import run as runner
from training import tracking
from training.recommend.guard import describe, policy_from_params
from training.sentiment.batch import review_scores

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail" / "online_retail.parquet"
AS_OF = pd.Timestamp("2011-12-10")  # the day after the last invoice
HELD_OUT_DAYS = 100  # AS_OF - 100 days = 2011-09-01, the protocol's cutoff
ROWS = {
    "popularity": "popularity",
    "repeat-then-popular": "repeat_then_popular",
    "ALS alone (64 factors, BM25)": "als",
    "BPR alone (64 factors)": "bpr",
    "full model (candidates + LambdaRank)": "model",
}
TARGETS = {"all": 0.40, "new": 0.14}  # issue 3: recall@10 on all products and on never-bought products

log = logging.getLogger("benchmarks.recommend_online_retail")


def sparse(tables: dict[str, pd.DataFrame], customers: int, share: float, seed: int) -> dict[str, pd.DataFrame]:
    """`customers` customers drawn at random and a `share` of their receipt lines (guests dropped)."""
    rng = np.random.default_rng(seed)
    tx = tables["transactions"]
    known = np.sort(tx["customer_id"].dropna().unique())
    drawn = rng.choice(known, size=min(customers, len(known)), replace=False)
    tx = tx[tx["customer_id"].isin(drawn)]
    tx = tx[rng.random(len(tx)) < share].reset_index(drop=True)
    out = dict(tables, transactions=tx)
    if "customers" in tables:
        out["customers"] = tables["customers"][tables["customers"]["customer_id"].isin(drawn)]
    log.info("sparse sample: %d customers, %d of their lines", len(drawn), len(tx))
    return out


def run(
    data: Path, customers: int | None = None, share: float = 1.0, seed: int = 0
) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """Metrics of the training run, the seconds of each stage and what was registered, in a fresh workspace."""
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="recommend-bench-") as root:
        settings = Settings(workspace=Path(root), tracking_uri=None)  # the workspace's own MLflow store
        ws = Workspace.at(root).ensure()
        started = time.perf_counter()
        tables = import_online_retail(data)
        if customers is not None or share < 1.0:
            tables = sparse(tables, customers or 10**9, share, seed)
        write_tables(ws.raw_dir, tables)
        seconds["import"] = time.perf_counter() - started
        started = time.perf_counter()
        build_features(ws, settings, review_scores=review_scores)
        seconds["features"] = time.perf_counter() - started
        started = time.perf_counter()
        result = runner.train("recommender", ws, settings, AS_OF, HELD_OUT_DAYS, progress=log.info)
        seconds["training"] = time.perf_counter() - started
        params = tracking.connect(ws, settings).get_run(result.run_id).data.params
    policy = policy_from_params(params, "refit_policy_")
    registered = [f"registered: version {result.version} @{result.alias}"]
    registered += [f"  lost: {loss}" for loss in result.lost]
    registered += ["per mode, requests without a cart (the model rows above score this):"]
    registered += [f"  {describe(mode, p)}" for mode, p in policy.items()]
    return result.metrics, seconds, registered


def report(metrics: dict[str, float], seconds: dict[str, float], registered: list[str]) -> list[str]:
    cutoff = AS_OF - pd.Timedelta(days=HELD_OUT_DAYS)
    lines = [
        "Recommender, UCI Online Retail (protocol: ../shared/data/README.md)",
        f"evaluation fit on purchases before {cutoff:%Y-%m-%d}; truth = purchases from then on of "
        f"{metrics['model_all_customers']:.0f} known customers ({metrics['model_new_customers']:.0f} with "
        "never-bought products)",
        "",
        f"{'':40}{'all products':>16}{'never bought':>18}",
        f"{'':40}{'recall@10':>10}{'NDCG@10':>8}{'recall@10':>12}{'NDCG@10':>8}",
    ]
    for name, key in ROWS.items():
        a, n = f"{key}_all_", f"{key}_new_"
        lines.append(
            f"{name:40}{metrics[a + 'recall_at_10']:>10.3f}{metrics[a + 'ndcg_at_10']:>8.3f}"
            f"{metrics[n + 'recall_at_10']:>12.3f}{metrics[n + 'ndcg_at_10']:>8.3f}"
        )
    lines += [
        f"{'targets (issue 3)':40}{TARGETS['all']:>10.3f}{'':>8}{TARGETS['new']:>12.3f}",
        "",
        *registered,
        "",
        f"time: import {seconds['import']:.1f}s, features {seconds['features']:.1f}s, training "
        f"{seconds['training']:.1f}s (evaluation fit + baselines + final refit; the refit alone is about half)",
    ]
    return lines


def main(
    data: Annotated[Path, typer.Option(help="The Online Retail file (parquet, csv or xlsx).")] = DEFAULT_DATA,
    verbose: Annotated[bool, typer.Option(help="Log progress as it goes.")] = False,
    customers: Annotated[int | None, typer.Option(min=1, help="Sparse run: this many customers, drawn.")] = None,
    line_share: Annotated[float, typer.Option(min=0.01, max=1.0, help="Sparse run: share of their lines kept.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the sparse draw.")] = 0,
) -> None:
    """Print the full model's figures beside popularity, repeat-then-popular and ALS on the real data."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    if not data.exists():
        typer.echo(f"no data at {data}: pass --data FILE (the file lives in ../shared/data on development machines)")
        raise typer.Exit(2)
    if customers is not None or line_share < 1.0:
        typer.echo(f"sparse: {customers or 'all'} customers drawn (seed {seed}), {line_share:.0%} of their lines")
    typer.echo("\n".join(report(*run(data, customers, line_share, seed))))


if __name__ == "__main__":
    typer.run(main)
