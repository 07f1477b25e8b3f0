"""Campaign throughput: `retail campaign build` on a simulated workspace of N customers; customers a minute.

    .venv/bin/python benchmarks/campaign_throughput.py --customers 100000 --workspace /tmp/camp100k

Builds what the workspace lacks with the product's own stages (simulate, features build, db init, train and
promote churn and the recommender; `--workspace` keeps it for the next run, without one a temporary workspace is
used), then times the campaign twice: in this process stage by stage (`build_campaign`'s timings plus the
write), and as the command a user runs (a fresh `retail campaign build` process: imports and start-up included).
Prints figures only and never fails on a time.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

RETAIL = str(Path(sys.executable).parent / "retail")


def stage(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([RETAIL, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"retail {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def has_champion(root: Path, name: str) -> bool:
    from retail.settings import get_settings
    from retail.workspace import Workspace
    from training import tracking

    ws = Workspace.at(root)
    if not (ws.mlruns / "mlflow.db").exists():
        return False
    return (
        tracking.alias_version(tracking.connect(ws, get_settings(workspace=root)), name, tracking.CHAMPION) is not None
    )


def prepare(root: Path, customers: int, cutoffs: int) -> None:
    """Run the stages the workspace still needs (the Makefile's `pipeline` order)."""
    w = ["--workspace", str(root)]
    steps: list[tuple[str, list[str]]] = []
    if not (root / "data" / "raw" / "transactions.parquet").exists():
        steps.append(("simulate", ["data", "simulate", "--customers", str(customers), *w]))
    if not (root / "data" / "features" / "meta.json").exists() or steps:
        steps += [("features build", ["features", "build", *w]), ("db init", ["db", "init", *w])]
    if not has_champion(root, "churn"):
        steps += [("train churn", ["train", "churn", "--cutoffs", str(cutoffs), *w])]
        steps += [("promote churn", ["models", "promote", "churn", "--force", *w])]
    if not has_champion(root, "recommender"):
        steps += [("train recommender", ["train", "recommender", *w])]
        steps += [("promote recommender", ["models", "promote", "recommender", "--force", *w])]
    for name, args in steps:
        print(f"{name:<22} {stage(args):8.1f} s", flush=True)


def in_process(root: Path, out: Path, workers: int | None) -> tuple[int, float, dict[str, float]]:
    """Rows, wall seconds and the seconds of each stage of one campaign built and written in this process."""
    from campaign.build import build_campaign
    from retail import logs
    from retail.files import write_frame
    from retail.settings import get_settings
    from retail.workspace import Workspace

    logs.configure()
    started = time.perf_counter()
    campaign = build_campaign(Workspace.at(root), get_settings(workspace=root), workers=workers)
    written = time.perf_counter()
    write_frame(campaign.frame, out)
    done = time.perf_counter()
    return len(campaign.frame), done - started, campaign.seconds | {"write": done - written}


def main(
    customers: Annotated[int, typer.Option(help="Simulated customers (when the workspace has no data yet).")] = 100_000,
    workspace: Annotated[Path | None, typer.Option(help="Workspace to build or reuse (default: temporary).")] = None,
    cutoffs: Annotated[int, typer.Option(help="Churn training cutoffs (fewer: a faster build).")] = 6,
    workers: Annotated[int, typer.Option(help="Offer workers; 0 = the command's default.")] = 0,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = (workspace or Path(tmp) / "ws").resolve()
        prepare(root, customers, cutoffs)
        out = Path(tmp) / "campaign.parquet"
        n, wall, seconds = in_process(root, out, workers or None)
        print(f"\ncampaign of {n:,} customers, in process, by stage")
        for name, s in seconds.items():
            share = "" if "worker" in name else f"{s / wall:6.1%}"
            print(f"  {name:<24} {s:7.1f} s  {share}")
        print(f"  {'total (wall)':<24} {wall:7.1f} s  -> {n / wall * 60:,.0f} customers a minute")
        args = ["campaign", "build", "--workspace", str(root), "--out", str(Path(tmp) / "campaign.csv")]
        args += ["--workers", str(workers)] if workers else []
        wall = stage(args)
        print(f"`retail {' '.join(args[:2])}` as a fresh process (CSV): {wall:.1f} s -> {n / wall * 60:,.0f} a minute")


if __name__ == "__main__":
    typer.run(main)
