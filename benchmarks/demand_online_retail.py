"""Demand forecasting on Online Retail through the CLI, scored by the protocol in ../shared/data/README.md.

Runs, in a temporary workspace (or `--workspace DIR`, reused if it already has features):

    retail data import online-retail FILE
    retail features build
    retail train demand --as-of 2011-11-11 --horizon-days 28
    retail predict demand --as-of 2011-11-11 --horizon-days 28 --products top500.csv --out forecast.csv

then scores `forecast.csv` on the protocol's 500 products (largest total quantity, every positive line, guests
included, zero-filled daily 2010-12-01 .. 2011-12-08, held out 2011-11-11 .. 2011-12-08) next to the
statsforecast baselines fitted on the same history by the same code. Prints figures; never fails on a target.

    .venv/bin/python benchmarks/demand_online_retail.py [--data FILE] [--workspace DIR]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from training.demand import evaluate
from training.demand.baselines import BASELINES, baseline_forecasts

RETAIL = Path(sys.executable).parent / "retail"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail" / "online_retail.parquet"
AS_OF, HORIZON, N_PRODUCTS = pd.Timestamp("2011-11-11"), 28, 500
START, END = pd.Timestamp("2010-12-01"), pd.Timestamp("2011-12-09")  # END exclusive: the last day is 12-08
TARGET_WAPE, COVERAGE = 0.78, (0.75, 0.85)


def _retail(*args: str) -> tuple[str, float]:
    started = time.perf_counter()
    done = subprocess.run([str(RETAIL), *args], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    typer.echo(f"retail {' '.join(args[:2])}: {seconds:.1f}s")
    return done.stdout.strip(), seconds


def protocol_frame(tx: pd.DataFrame) -> pd.DataFrame:
    """Daily units of the 500 products with the most units, zero-filled over the whole period."""
    bought = tx[(tx["quantity"] > 0) & (tx["ts"] >= START) & (tx["ts"] < END)]
    top = bought.groupby("product_id")["quantity"].sum().nlargest(N_PRODUCTS).index
    daily = (
        bought[bought["product_id"].isin(top)]
        .assign(ds=lambda f: f["ts"].dt.floor("D"))
        .groupby(["product_id", "ds"])["quantity"]
        .sum()
    )
    grid = pd.MultiIndex.from_product(
        [top, pd.date_range(START, END - pd.Timedelta(days=1))], names=["product_id", "ds"]
    )
    frame = daily.reindex(grid, fill_value=0).rename("y").reset_index()
    return frame.assign(unique_id=frame["product_id"], y=frame["y"].astype("float64"), category="all")


def main(
    data: Annotated[Path, typer.Option(help="The Online Retail file.")] = DEFAULT_DATA,
    workspace: Annotated[Path | None, typer.Option(help="Reuse this workspace (kept afterwards).")] = None,
    extra: Annotated[list[str] | None, typer.Argument(help="More `retail train demand` options.")] = None,
) -> None:
    if not data.exists():
        typer.echo(f"no data at {data}: pass --data FILE")
        raise typer.Exit(2)
    with tempfile.TemporaryDirectory(prefix="demand-") as tmp:
        root = workspace or Path(tmp)
        ws = ["--workspace", str(root)]
        if not (root / "data" / "features" / "product_daily_sales.parquet").exists():
            _retail("data", "import", "online-retail", str(data), *ws)
            _retail("features", "build", *ws)
        trained, train_seconds = _retail(
            "train", "demand", "--as-of", f"{AS_OF:%Y-%m-%d}", "--horizon-days", str(HORIZON), *ws, *(extra or [])
        )
        typer.echo(trained)
        alias = "challenger" if "(@challenger)" in trained else "champion"  # a reused workspace has a champion
        tx = pd.read_parquet(root / "data" / "raw" / "transactions.parquet")
        frame = protocol_frame(tx)
        products, out = Path(tmp) / "top500.csv", Path(tmp) / "forecast.csv"
        frame[["product_id"]].drop_duplicates().to_csv(products, index=False)
        horizon = ["--horizon-days", str(HORIZON)]
        _retail(
            "predict",
            "demand",
            "--as-of",
            f"{AS_OF:%Y-%m-%d}",
            *horizon,
            "--products",
            str(products),
            "--out",
            str(out),
            "--alias",
            alias,
            *ws,
        )
        forecast = pd.read_csv(out, dtype={"product_id": str}, parse_dates=["ds"])
    history, test = frame[frame["ds"] < AS_OF], frame[frame["ds"] >= AS_OF]
    base = baseline_forecasts(history, HORIZON, "D")
    ours = forecast.rename(columns={"product_id": "unique_id", "p50": "model", "p10": "model_p10", "p90": "model_p90"})
    rows = test.merge(ours[["unique_id", "ds", "model", "model_p10", "model_p90"]], on=["unique_id", "ds"], how="left")
    missing = int(rows["model"].isna().sum())
    rows = rows.fillna({"model": 0.0, "model_p10": 0.0, "model_p90": 0.0}).merge(base, on=["unique_id", "ds"])
    figures = evaluate.scores(rows, history, "D", ["model", *BASELINES])
    typer.echo(f"\n{N_PRODUCTS} products, {HORIZON} days from {AS_OF:%Y-%m-%d} ({missing} rows unforecast):")
    typer.echo(f"{'model':<16}{'WAPE':>8}{'MASE':>8}{'bias':>8}{'P10-P90 coverage':>20}")
    for name in ["model", *BASELINES]:
        coverage = figures.get(f"{name}_coverage")
        shown = f"{coverage:.3f}" if coverage is not None else "-"
        typer.echo(
            f"{name:<16}{figures[f'{name}_wape']:>8.3f}{figures[f'{name}_mase']:>8.3f}"
            f"{figures[f'{name}_bias']:>8.3f}{shown:>20}"
        )
    wape, coverage = figures["model_wape"], figures["model_coverage"]
    typer.echo(
        f"\ntargets: WAPE <= {TARGET_WAPE} ({'met' if wape <= TARGET_WAPE else 'not met'}), coverage in "
        f"{COVERAGE} ({'met' if COVERAGE[0] <= coverage <= COVERAGE[1] else 'not met'}), "
        f"`retail train demand` {train_seconds:.0f}s (target < 300s)"
    )


if __name__ == "__main__":
    typer.run(main)
