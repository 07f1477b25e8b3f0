"""The sentiment champion in each CPU runtime on the protocol's held-out reviews: figures, agreement and speed.

For a workspace whose champion `benchmarks/sentiment_reviews.py --workspace DIR` trained on the protocol split,
loads it once per runtime (RETAIL_SENTIMENT_RUNTIME = fp32, int8, bf16) and scores the same 3,964 held-out
reviews: accuracy, macro-F1, negative recall, labels that differ from full precision, and reviews a second
(cold: the first pass in a fresh load). `auto` is what the service and `retail predict` pick on this machine.
Prints figures; never fails on a target.

    .venv/bin/python benchmarks/sentiment_runtimes.py --workspace DIR [--data FILE]
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from sentiment_reviews import DEFAULT_DATA, protocol_file

RUNTIMES = ("fp32", "int8", "bf16")


def main(
    workspace: Annotated[Path, typer.Option(help="A workspace with a sentiment @champion trained on the protocol.")],
    data: Annotated[Path, typer.Option(help="The clothing reviews CSV.")] = DEFAULT_DATA,
) -> None:
    from retail.settings import get_settings
    from retail.workspace import Workspace
    from training import run
    from training.sentiment import evaluate
    from training.sentiment.dataset import read_labelled, split_reviews
    from training.sentiment.model.bf16 import amx
    from training.sentiment.model.runtime import runtime

    with tempfile.TemporaryDirectory() as tmp:
        protocol_file(data, Path(tmp) / "reviews.csv")
        _, test = split_reviews(read_labelled(Path(tmp) / "reviews.csv"), 0)
    texts, y = test["text"].tolist(), test["label"].to_numpy()
    ws = Workspace.at(workspace)
    typer.echo(f"{len(texts):,} held-out reviews; AMX: {'yes' if amx() else 'no'}; auto picks {runtime(True, True)}")
    typer.echo(f"{'runtime':8} {'accuracy':>9} {'macro-F1':>9} {'neg. recall':>12} {'differs':>8} {'reviews/s':>10}")
    reference = None
    for name in RUNTIMES:
        os.environ["RETAIL_SENTIMENT_RUNTIME"] = name
        model, _ = run.load(ws, get_settings(workspace=workspace), "sentiment")
        inner = model.unwrap_python_model()
        started = time.perf_counter()
        p = inner.classifier.scores(texts)
        rate = len(texts) / (time.perf_counter() - started)
        called = p >= inner.threshold
        reference = called if reference is None else reference
        found = evaluate.figures(y, p, inner.threshold)
        typer.echo(
            f"{name:8} {found['accuracy']:9.4f} {found['macro_f1']:9.4f} {found['negative_recall']:12.4f} "
            f"{int(np.sum(called != reference)):8d} {rate:10.0f}"
        )


if __name__ == "__main__":
    typer.run(main)
