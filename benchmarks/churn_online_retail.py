"""Churn on the UCI Online Retail file, under the shared evaluation protocol (../shared/data/README.md).

Features as of 2011-09-01, churned = no purchase in the following 90 days; training cutoffs end their labels by
then (2011-06-03 and earlier). Runs the product's own stages in a temporary workspace and prints figures; it
never fails on a time or a target.

    .venv/bin/python benchmarks/churn_online_retail.py [--data FILE] [--tune N]
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, TypeVar

import pandas as pd
import typer

from features.build import build_features
from features.importers import import_online_retail
from features.rawio import write_tables
from retail import logs
from retail.settings import Settings
from retail.workspace import Workspace
from training import run as runner
from training import tracking
from training.churn.options import ChurnOptions
from training.sentiment.batch import review_scores

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail" / "online_retail.parquet"
AS_OF = pd.Timestamp("2011-11-30")  # evaluation cutoff = AS_OF - 90 days = 2011-09-01
HORIZON_DAYS = 90
TARGET_AUC = 0.75
REFERENCE = {"recency only (README)": 0.684, "six-feature RFM LightGBM (README)": 0.718}
ROWS = {"model": "LightGBM (this model)", "recency": "recency only", "rfm_logistic": "RFM logistic"}

log = logging.getLogger("benchmarks.churn_online_retail")
T = TypeVar("T")


@dataclass
class Figures:
    """What one benchmark run measured."""

    metrics: dict[str, float]
    params: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)
    tune_trials: int = 0


def _timed(seconds: dict[str, float], stage: str, step: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = step()
    seconds[stage] = time.perf_counter() - started
    log.info("%s: %.1fs", stage, seconds[stage])
    return result


def run(data: Path, tune_trials: int = 0) -> Figures:
    """Import, build features and train churn in a fresh temporary workspace; return metrics and timings."""
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="churn-bench-") as root:
        # tracking_uri=None: the temporary workspace's own MLflow store, even if RETAIL_TRACKING_URI is set
        settings = Settings(workspace=Path(root), tracking_uri=None)
        ws = Workspace.at(root).ensure()
        _timed(seconds, "import", lambda: write_tables(ws.raw_dir, import_online_retail(data)))
        _timed(seconds, "features", lambda: build_features(ws, settings, review_scores=review_scores))
        result = _timed(
            seconds,
            "training",
            lambda: runner.train("churn", ws, settings, AS_OF, HORIZON_DAYS, ChurnOptions(tune=tune_trials)),
        )
        params = dict(tracking.connect(ws, settings).get_run(result.run_id).data.params)
    return Figures(result.metrics, params, seconds, tune_trials)


def report(figures: Figures) -> str:
    """The figures as a small plain-text table."""
    m, p = figures.metrics, figures.params
    cutoffs = p.get("train_cutoffs", "").split(",")
    lines = [
        "Churn, UCI Online Retail (protocol: ../shared/data/README.md)",
        f"evaluation cutoff {p.get('eval_cutoff')}, horizon {p.get('horizon_days')} days, "
        f"{p.get('eval_rows')} customers, churn rate {m.get('model_positive_rate', float('nan')):.3f}",
        f"training: {len(cutoffs)} cutoffs {cutoffs[0]} .. {cutoffs[-1]}, {p.get('train_rows')} rows"
        + (f", {figures.tune_trials} Optuna trials" if figures.tune_trials else ", default parameters"),
        "",
        f"{'':36}{'AUC':>7}{'PR-AUC':>8}{'Brier':>8}",
    ]
    for key, label in ROWS.items():
        lines.append(f"{label:36}{m[f'{key}_auc']:>7.3f}{m[f'{key}_pr_auc']:>8.3f}{m[f'{key}_brier']:>8.3f}")
    for label, auc in REFERENCE.items():
        lines.append(f"{label:36}{auc:>7.3f}")
    verdict = "met" if m["model_auc"] >= TARGET_AUC else "not met"
    lines += [
        f"{'target':36}{'>= ' + format(TARGET_AUC, '.2f'):>7}  ({verdict})",
        "",
        "wall time: " + ", ".join(f"{stage} {s:.1f}s" for stage, s in figures.seconds.items()),
    ]
    return "\n".join(lines)


def main(
    data: Annotated[Path, typer.Option(help="The Online Retail file (parquet, csv or xlsx).")] = DEFAULT_DATA,
    tune: Annotated[int, typer.Option(min=0, help="Optuna trials before the final fit (0: default params).")] = 0,
    verbose: Annotated[bool, typer.Option(help="Log each stage's progress.")] = False,
) -> None:
    """Print churn figures on the real data under the shared protocol."""
    logs.configure(verbose=False)
    if not verbose:
        logging.getLogger().setLevel(logging.WARNING)
    log.setLevel(logging.INFO)  # stage timings always
    if not data.exists():
        typer.echo(f"no data at {data}: pass --data FILE (the file lives in ../shared/data on development machines)")
        raise typer.Exit(2)
    typer.echo(report(run(data, tune)))


if __name__ == "__main__":
    typer.run(main)
