"""The registered churn model as a user gets it, scored on what happened next (Online Retail).

Runs, in a temporary workspace, exactly:

    retail data import online-retail FILE
    retail features build
    retail train churn --as-of 2011-09-01 --horizon-days 90
    retail predict churn --as-of 2011-09-01 --out scores.csv

then scores `scores.csv` against each customer's next 90 days (churned = no purchase from 2011-09-01 to
2011-11-29): the AUC of the model the CLI registered, which learns from every label that ends by 2011-09-01.
Prints figures; never fails on a target.

    .venv/bin/python benchmarks/churn_cli_online_retail.py [--data FILE]
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
from sklearn.metrics import roc_auc_score

from training.churn import dataset

RETAIL = Path(sys.executable).parent / "retail"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail" / "online_retail.parquet"
AS_OF, HORIZON_DAYS, TARGET_AUC = "2011-09-01", 90, 0.75


def _retail(*args: str) -> str:
    started = time.perf_counter()
    done = subprocess.run([str(RETAIL), *args], check=True, capture_output=True, text=True)
    typer.echo(f"retail {' '.join(args[:2])}: {time.perf_counter() - started:.1f}s")
    return done.stdout.strip()


def main(data: Annotated[Path, typer.Option(help="The Online Retail file.")] = DEFAULT_DATA) -> None:
    if not data.exists():
        typer.echo(f"no data at {data}: pass --data FILE")
        raise typer.Exit(2)
    with tempfile.TemporaryDirectory(prefix="churn-cli-") as root:
        ws = ["--workspace", root]
        _retail("data", "import", "online-retail", str(data), *ws)
        _retail("features", "build", *ws)
        typer.echo(_retail("train", "churn", "--as-of", AS_OF, "--horizon-days", str(HORIZON_DAYS), *ws))
        out = Path(root) / "scores.csv"
        _retail("predict", "churn", "--as-of", AS_OF, "--out", str(out), *ws)
        scores = pd.read_csv(out, dtype={"customer_id": str})
        tx = pd.read_parquet(Path(root) / "data" / "raw" / "transactions.parquet")
    truth = dataset.labels(tx, pd.Timestamp(AS_OF), pd.Timedelta(days=HORIZON_DAYS))
    joined = truth.merge(scores, on="customer_id", how="left")
    missing = int(joined["churn_probability"].isna().sum())
    auc = roc_auc_score(joined["churned"], joined["churn_probability"].fillna(0.5))
    typer.echo(
        f"registered churn model scored as of {AS_OF} on the next {HORIZON_DAYS} days: AUC {auc:.4f} "
        f"over {len(joined):,} customers (churn rate {joined['churned'].mean():.3f}, {missing} unscored); "
        f"target >= {TARGET_AUC} ({'met' if auc >= TARGET_AUC else 'not met'})"
    )
    top = scores.sort_values("churn_probability", ascending=False).head(3)
    typer.echo(
        "highest risk: "
        + " | ".join(f"{r.customer_id} {r.churn_probability:.2f} ({r.driver_1})" for r in top.itertuples())
    )


if __name__ == "__main__":
    typer.run(main)
