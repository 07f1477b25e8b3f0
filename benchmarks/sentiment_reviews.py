"""Sentiment on the women's clothing reviews through the CLI, by the protocol in ../shared/data/README.md.

Writes the protocol's text (Title + ". " + Review Text, rows without review text dropped) with its ratings to a
temporary CSV, then runs in a small simulated workspace (or `--workspace DIR`, which only holds the registry):

    retail train sentiment --reviews reviews.csv      (rating 3 left out; stratified 80/20 split, seed 0)
    retail predict sentiment --in reviews.csv --out scored.parquet

and prints the figures the training run logged for the model and its baselines on the held-out 20%, the
robustness checks (first sentence only, the short other-products probe), training time, and the batch scoring
rate. Prints figures; never fails on a target.

    .venv/bin/python benchmarks/sentiment_reviews.py [--data FILE] [--workspace DIR] [-- extra train options]
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

RETAIL = Path(sys.executable).parent / "retail"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "womens_clothing_reviews" / "reviews.csv"
TARGETS = {"accuracy": 0.95, "negative_recall": 0.85}
ROWS = {
    "fine-tuned MiniLM (as served)": "model",
    "fine-tuned MiniLM, full precision": "full_precision",
    "frozen MiniLM + logistic regression": "frozen_encoder",
    "VADER (compound >= 0.05)": "vader",
    "fine-tuned, first sentence only": "short",
    "VADER, first sentence only": "short_vader",
}


def _retail(*args: str) -> tuple[str, float]:
    started = time.perf_counter()
    done = subprocess.run([str(RETAIL), *args], stdout=subprocess.PIPE, text=True)  # progress goes to stderr
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        typer.echo(done.stdout[-3000:])
        raise typer.Exit(1)
    typer.echo(f"retail {' '.join(args[:2])}: {seconds:.1f}s")
    return done.stdout.strip(), seconds


def protocol_file(data: Path, out: Path) -> tuple[int, float]:
    """Rows with review text (rating 3 kept: training leaves it out) and the majority share without rating 3."""
    raw = pd.read_csv(data)
    raw = raw[raw["Review Text"].notna()]
    frame = pd.DataFrame({"text": raw["Title"].fillna("") + ". " + raw["Review Text"], "rating": raw["Rating"]})
    frame.to_csv(out, index=False)
    positive = (frame.loc[frame["rating"] != 3, "rating"] >= 4).mean()
    return len(frame), float(max(positive, 1 - positive))


def logged_metrics(root: Path, version: str) -> dict[str, float]:
    from mlflow import MlflowClient

    from retail.settings import Settings
    from retail.workspace import Workspace
    from training import tracking

    client: MlflowClient = tracking.connect(Workspace.at(root), Settings(workspace=root))
    run_id = client.get_model_version("sentiment", version).run_id
    return client.get_run(run_id).data.metrics


def main(
    data: Annotated[Path, typer.Option(help="The clothing reviews CSV.")] = DEFAULT_DATA,
    workspace: Annotated[Path | None, typer.Option(help="Reuse this workspace (kept afterwards).")] = None,
    extra: Annotated[list[str] | None, typer.Argument(help="More `retail train sentiment` options.")] = None,
) -> None:
    if not data.exists():
        typer.echo(f"no data at {data}: pass --data FILE")
        raise typer.Exit(2)
    with tempfile.TemporaryDirectory(prefix="sentiment-") as tmp:
        root = workspace or Path(tmp) / "ws"
        ws = ["--workspace", str(root)]
        if not (root / "feature_repo" / "feature_store.yaml").exists():
            _retail("data", "simulate", "--customers", "200", "--days", "120", *ws)
            _retail("features", "build", *ws)
        reviews = Path(tmp) / "reviews.csv"
        n, majority = protocol_file(data, reviews)
        typer.echo(f"{n:,} reviews with text (rating 3 is left out by training)")
        trained, train_seconds = _retail("train", "sentiment", "--reviews", str(reviews), *ws, *(extra or []))
        typer.echo(trained)
        version = trained.split("version ", 1)[1].split(" ", 1)[0]
        m = logged_metrics(root, version)
        scored_file = Path(tmp) / "scored.parquet"
        _, predict_seconds = _retail("predict", "sentiment", "--in", str(reviews), "--out", str(scored_file), *ws)

    typer.echo(f"\n{'model':38} {'accuracy':>9} {'macro-F1':>9} {'neg. recall':>12}")
    for title, key in ROWS.items():
        if f"{key}_accuracy" in m:
            acc, f1, neg = (m[f"{key}_{s}"] for s in ("accuracy", "macro_f1", "negative_recall"))
            typer.echo(f"{title:38} {acc:9.4f} {f1:9.4f} {neg:12.4f}")
    typer.echo(f"{'majority class (all reviews)':38} {majority:9.4f}")
    probes = {k: m.get(f"{k}_probe_accuracy", float("nan")) for k in ("model", "frozen_encoder", "vader")}
    typer.echo("probe (60 short texts on other products): " + ", ".join(f"{k} {v:.3f}" for k, v in probes.items()))
    run_seconds = m.get("train_seconds", train_seconds)
    typer.echo(f"training: {run_seconds:.0f}s in the run ({train_seconds:.0f}s with start-up)")
    typer.echo(f"batch scoring: {n / predict_seconds:.0f} reviews/s end to end ({n:,} in {predict_seconds:.1f}s)")
    for score, target in TARGETS.items():
        found = m.get(f"model_{score}", float("nan"))
        typer.echo(f"target {score} >= {target}: {found:.4f} {'met' if found >= target else 'NOT met'}")


if __name__ == "__main__":
    typer.run(main)
