"""`retail train sentiment` and `retail predict sentiment`.

Defaults come from the family's options (`training.sentiment.options`); the work is imported when a command runs,
so `retail --help` does not load torch.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from retail.cliopts import AliasOpt, DateOpt, OutOpt, WorkspaceOpt, command, predict_to_file, train_and_report
from training.sentiment.options import HORIZON_DAYS, SentimentOptions

NAME = "sentiment"
DEFAULTS = SentimentOptions()
EpochsOpt = Annotated[int | None, typer.Option(min=1, help="Passes (default: 1, more on small data).")]
NegativeWeightOpt = Annotated[float, typer.Option(min=0.01, help="Loss weight of negative reviews.")]
MaxLengthOpt = Annotated[int | None, typer.Option(min=8, help="Token budget (default: from the data).")]
Int8Opt = Annotated[bool, typer.Option(help="Reduced precision on CPUs: bfloat16 with AMX, else int8.")]
RefitOpt = Annotated[bool, typer.Option(help="Fit again on every review before registering (twice the time).")]


@command
def train(
    workspace_dir: WorkspaceOpt = Path("."),
    reviews: Annotated[
        Path | None, typer.Option(help="CSV or parquet: text, and rating (1-5) or label (positive/negative).")
    ] = None,
    as_of: DateOpt = None,
    epochs: EpochsOpt = DEFAULTS.epochs,
    negative_weight: NegativeWeightOpt = DEFAULTS.negative_weight,
    max_length: MaxLengthOpt = DEFAULTS.max_length,
    int8: Int8Opt = DEFAULTS.int8,
    refit: RefitOpt = DEFAULTS.refit,
) -> None:
    """Fine-tune MiniLM on rated reviews (rating 3 left out), against VADER and a frozen encoder; register."""
    from training.sentiment.dataset import read_labelled  # lazy: keeps `retail --help` light

    if reviews is not None:
        read_labelled(reviews)  # a bad file is refused before any run is started
    options = SentimentOptions(
        reviews=reviews, epochs=epochs, negative_weight=negative_weight, max_length=max_length, int8=int8, refit=refit
    )
    train_and_report(NAME, workspace_dir, as_of, HORIZON_DAYS, options)


@command
def predict(
    out: OutOpt,
    workspace_dir: WorkspaceOpt = Path("."),
    input_file: Annotated[
        Path | None, typer.Option("--in", help="CSV or parquet with a text column (default: every review).")
    ] = None,
    alias: AliasOpt = "champion",
) -> None:
    """Add label and score = P(positive) to every row of --in (other columns carried through)."""
    from features.importers import read_file  # lazy: keeps `retail --help` light

    frame = read_file(input_file) if input_file is not None else None
    started = time.perf_counter()
    scored = predict_to_file(NAME, out, workspace_dir, None, alias, {"input": frame})
    seconds = time.perf_counter() - started
    typer.echo(f"wrote {len(scored):,} scored texts to {out} ({len(scored) / seconds:,.0f} texts/s)")
