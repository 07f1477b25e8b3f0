"""Scale: simulate N customers over two years, build features and train churn; prints wall time and peak memory.

    .venv/bin/python benchmarks/scale.py --customers 100000 [--skip-train]

Each stage runs as its own `retail` process in a temporary workspace; memory is its peak resident set size,
sampled every 0.2 s. Prints figures only and never fails on a time.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import psutil
import pyarrow.parquet as pq
import typer

RETAIL = str(Path(sys.executable).parent / "retail")


def run_stage(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB, process and children) of one CLI stage."""
    started = time.perf_counter()
    proc = subprocess.Popen([RETAIL, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            procs = [watched, *watched.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs))
        except psutil.Error:
            pass
        time.sleep(0.2)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{proc.stderr.read() if proc.stderr else ''}")
    return time.perf_counter() - started, peak / 1e9


def main(
    customers: Annotated[int, typer.Option(help="Simulated customers.")] = 100_000,
    days: Annotated[int, typer.Option(help="Days of history.")] = 730,
    skip_train: Annotated[bool, typer.Option(help="Stop after the feature build.")] = False,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stages = {
            "simulate": ["data", "simulate", "--customers", str(customers), "--days", str(days)],
            "features build": ["features", "build"],
            "train churn": ["train", "churn"],
        }
        if skip_train:
            stages.pop("train churn")
        print(f"{customers:,} customers over {days} days")
        for name, args in stages.items():
            seconds, gb = run_stage([*args, "--workspace", tmp])
            print(f"{name:<16} {seconds:8.1f} s   peak {gb:5.2f} GB", flush=True)
        for table in sorted(Path(tmp, "data", "features").glob("*.parquet")):
            print(f"{table.stem:<20} {pq.ParquetFile(table).metadata.num_rows:>12,} rows")


if __name__ == "__main__":
    typer.run(main)
