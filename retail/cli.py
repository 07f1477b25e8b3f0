"""The `retail` command line: each command is a thin wrapper over a typed stage function."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from retail import logs
from retail.settings import get_settings
from retail.workspace import Workspace

log = logging.getLogger("retail")
app = typer.Typer(help="Retail ML service: data, features, training, registry and serving.", no_args_is_help=True)
data_app = typer.Typer(help="Raw data: simulate or import.", no_args_is_help=True)
import_app = typer.Typer(help="Import raw tables from files.", no_args_is_help=True)
features_app = typer.Typer(help="Feature tables and the Feast repository.", no_args_is_help=True)
train_app = typer.Typer(help="Train, evaluate and register models.", no_args_is_help=True)
predict_app = typer.Typer(help="Batch scoring.", no_args_is_help=True)
recommend_app = typer.Typer(help="Recommendations in batch.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry: list and promote.", no_args_is_help=True)
app.add_typer(data_app, name="data")
data_app.add_typer(import_app, name="import")
app.add_typer(features_app, name="features")
app.add_typer(train_app, name="train")
app.add_typer(predict_app, name="predict")
app.add_typer(recommend_app, name="recommend")
app.add_typer(models_app, name="models")

WorkspaceOpt = Annotated[
    Path, typer.Option("--workspace", "-w", envvar="RETAIL_WORKSPACE", help="Workspace directory.")
]
DateOpt = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="A date, YYYY-MM-DD.")]


# what `models list` shows per registered model: column title -> run metric
LIST_COLUMNS = {
    "churn": {"AUC": "model_auc", "PR-AUC": "model_pr_auc", "recency": "recency_auc", "RFM": "rfm_logistic_auc"},
    "recommender": {
        "recall@10": "model_all_recall_at_10",
        "NDCG@10": "model_all_ndcg_at_10",
        "new rec.": "model_new_recall_at_10",
        "repeat": "repeat_then_popular_all_recall_at_10",
        "ALS": "als_all_recall_at_10",
    },
}


def command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Configure logging and turn expected errors into one clear line and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        logs.configure(verbose=os.environ.get("RETAIL_VERBOSE") == "1")
        try:
            return func(*args, **kwargs)
        except (ValueError, FileNotFoundError, KeyError) as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None

    return wrapper


def _workspace(path: Path) -> tuple[Workspace, Any]:
    settings = get_settings(workspace=path)
    return Workspace.at(settings.workspace), settings


def _write_raw(workspace: Path, tables: dict[str, Any]) -> None:
    """Validate and write all raw tables at once (nothing is written if any table is refused)."""
    from features.rawio import write_tables

    ws, _ = _workspace(workspace)
    write_tables(ws.raw_dir, tables)
    typer.echo(", ".join(f"{name}: {len(t):,} rows" for name, t in tables.items()))


@data_app.command("simulate")
@command
def data_simulate(
    workspace: WorkspaceOpt = Path("."),
    customers: Annotated[int, typer.Option(min=10, help="Number of customers.")] = 10_000,
    days: Annotated[int, typer.Option(min=30, help="Days of history.")] = 730,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 0,
    end: Annotated[str, typer.Option(help="End of the simulated period (exclusive), YYYY-MM-DD.")] = "2026-06-30",
) -> None:
    """Simulate every raw table (seeded) into the workspace."""
    from features.simulate import simulate

    log.info("simulating %d customers over %d days (seed %d)", customers, days, seed)
    _write_raw(workspace, simulate(n_customers=customers, days=days, seed=seed, end=end))


@import_app.command("canonical")
@command
def import_canonical(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Folder with one file per table.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Import a folder of contract tables (transactions.csv|parquet, products.csv, ...)."""
    from features.importers import import_canonical as load

    _write_raw(workspace, load(folder))


@import_app.command("online-retail")
@command
def import_online_retail(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="UCI Online Retail file.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Import the UCI Online Retail layout (cancellations become returns)."""
    from features.importers import import_online_retail as load

    _write_raw(workspace, load(file))


@features_app.command("build")
@command
def features_build(workspace: WorkspaceOpt = Path(".")) -> None:
    """Compute feature tables, `feast apply` them and materialize the online store."""
    from features.build import build_features

    ws, settings = _workspace(workspace)
    counts = build_features(ws, settings)
    typer.echo(", ".join(f"{name}: {n:,} feature rows" for name, n in counts.items()))


@train_app.command("churn")
@command
def train_churn(
    workspace: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    horizon_days: Annotated[int, typer.Option(min=1, help="Churned = no purchase within this many days.")] = 90,
    cutoffs: Annotated[int, typer.Option(min=1, help="Number of weekly training cutoffs.")] = 20,
    tune: Annotated[int, typer.Option(min=0, help="Optuna trials (nested MLflow runs); 0 = defaults.")] = 0,
) -> None:
    """Train churn on data before --as-of (default: end of data), evaluate, register."""
    from training.churn.train import train_churn as train

    ws, settings = _workspace(workspace)
    result = train(ws, settings, as_of=as_of, horizon_days=horizon_days, n_cutoffs=cutoffs, tune_trials=tune)
    m = result.metrics
    typer.echo(
        f"churn version {result.version} (@{result.alias}): AUC {m['model_auc']:.3f}, PR-AUC {m['model_pr_auc']:.3f}"
        f" | recency AUC {m['recency_auc']:.3f} | RFM logistic AUC {m['rfm_logistic_auc']:.3f}"
    )


@train_app.command("recommender")
@command
def train_recommender(
    workspace: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    horizon_days: Annotated[int, typer.Option(min=7, help="Held-out days before --as-of, and the label window.")] = 30,
) -> None:
    """Train the recommender on data before --as-of (default: end of data), evaluate, register."""
    from training.recommend.train import train_recommender as train

    ws, settings = _workspace(workspace)
    result = train(ws, settings, as_of=as_of, horizon_days=horizon_days, progress=log.info)
    m = result.metrics
    typer.echo(
        f"recommender version {result.version} (@{result.alias}) in {result.seconds:.0f}s: "
        f"recall@10 {m['model_all_recall_at_10']:.3f} all, {m['model_new_recall_at_10']:.3f} never bought"
        f" | repeat-then-popular {m['repeat_then_popular_all_recall_at_10']:.3f}"
        f" | ALS {m['als_all_recall_at_10']:.3f}, {m['als_new_recall_at_10']:.3f}"
    )


@recommend_app.command("batch")
@command
def recommend_batch(
    out: Annotated[Path, typer.Option(help="Output file (.csv or .parquet).")],
    workspace: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    k: Annotated[int, typer.Option(min=1, max=100, help="Products per customer.")] = 10,
    mode: Annotated[str, typer.Option(help="all, cross_sell or up_sell.")] = "all",
    alias: Annotated[str, typer.Option(help="Registry alias to recommend with.")] = "champion",
) -> None:
    """Write customer_id, rank, product_id, score, reason for every customer known before --as-of."""
    from retail.files import check_suffix, write_frame
    from training.recommend.recommender import MODES

    check_suffix(out)
    if mode not in MODES:
        raise ValueError(f"--mode {mode}: choose one of {', '.join(MODES)}")
    from training.recommend.batch import recommend_customers

    ws, settings = _workspace(workspace)
    frame = recommend_customers(ws, settings, as_of, mode, k, alias)  # type: ignore[arg-type]  # checked above
    write_frame(frame, out)
    typer.echo(f"wrote {len(frame):,} rows for {frame['customer_id'].nunique():,} customers to {out}")


@predict_app.command("churn")
@command
def predict_churn(
    out: Annotated[Path, typer.Option(help="Output file (.csv or .parquet).")],
    workspace: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    alias: Annotated[str, typer.Option(help="Registry alias to score with.")] = "champion",
) -> None:
    """Write customer_id, churn_probability for every customer known before --as-of."""
    from retail.files import check_suffix, write_frame

    check_suffix(out)  # fail before the slow imports and scoring
    import pandas as pd

    from training.churn.score import score_customers

    ws, settings = _workspace(workspace)
    when = pd.Timestamp(as_of) if as_of else pd.Timestamp(ws.read_meta().get("features_as_of") or "now").floor("D")
    frame = score_customers(ws, settings, when, alias)
    write_frame(frame, out)
    typer.echo(f"wrote {len(frame):,} scores to {out}")


@models_app.command("list")
@command
def models_list(
    workspace: WorkspaceOpt = Path("."),
    name: Annotated[str, typer.Argument(help="Registered model name.")] = "churn",
) -> None:
    """Versions, aliases and evaluation metrics of a registered model."""
    from training import tracking

    ws, settings = _workspace(workspace)
    rows = tracking.list_versions(tracking.connect(ws, settings), name)
    if not rows:
        raise ValueError(f"no versions of {name!r} are registered in {ws.root}")
    columns = LIST_COLUMNS.get(name, LIST_COLUMNS["churn"])
    typer.echo(f"{'version':>7}  {'aliases':<20} " + " ".join(f"{c:>9}" for c in columns) + "  promotion")
    for r in rows:
        values = " ".join(f"{r.metrics.get(m, float('nan')):>9.3f}" for m in columns.values())
        typer.echo(f"{r.version:>7}  {','.join(r.aliases) or '-':<20} {values}  {r.tags.get('promotion', '')}")


@models_app.command("promote")
@command
def models_promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")] = "churn",
    workspace: WorkspaceOpt = Path("."),
    force: Annotated[bool, typer.Option(help="Promote even if the challenger does not win (recorded).")] = False,
) -> None:
    """Move @champion to @challenger when it beats the champion on the same evaluation."""
    from training import promotion, tracking

    ws, settings = _workspace(workspace)
    d = promotion.promote(tracking.connect(ws, settings), name, force=force)
    scores = (
        ""
        if d.champion_score is None
        else f" (champion {d.metric} {d.champion_score:.4f}, challenger {d.challenger_score:.4f})"
    )
    verdict = f"promoted: version {d.champion} is @champion" if d.promoted else f"kept version {d.champion}"
    typer.echo(f"{name}: {verdict} - {d.reason}{scores}")


@app.command("serve")
@command
def serve(
    workspace: WorkspaceOpt = Path("."),
    port: Annotated[int, typer.Option(help="Port on localhost.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
) -> None:
    """Start the BentoML service for this workspace (foreground)."""
    ws, _ = _workspace(workspace)
    if not (ws.feature_repo / "feature_store.yaml").exists():
        raise FileNotFoundError(f"{ws.root} has no feature repository: run `retail features build` first")
    env = os.environ | {"RETAIL_WORKSPACE": str(ws.root)}
    args = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "serving.service:RetailService",
        "--port",
        str(port),
        "--host",
        host,
    ]
    log.info("serving %s on http://%s:%d", ws.root, host, port)
    os.execvpe(sys.executable, args, env)
