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
        list[Path] | None,
        typer.Option(
            metavar="FILE",
            help="CSV or parquet: text, and rating (1-5) or label (positive/negative/neutral; rating 3 and neutral "
            "are left out). Repeat for more sources: one model on all, figures per source.",
        ),
    ] = None,
    test: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FILE",
            help="Labelled file(s) to evaluate on, as --reviews; then every --reviews text trains (default: 20% of "
            "each --reviews file is held out). A protocol's train and test splits reproduce its benchmark.",
        ),
    ] = None,
    as_of: DateOpt = None,
    epochs: EpochsOpt = DEFAULTS.epochs,
    negative_weight: NegativeWeightOpt = DEFAULTS.negative_weight,
    max_length: MaxLengthOpt = DEFAULTS.max_length,
    int8: Int8Opt = DEFAULTS.int8,
    refit: RefitOpt = DEFAULTS.refit,
) -> None:
    """Fine-tune MiniLM on rated reviews (rating 3 left out), against VADER and a frozen encoder; register.

    The defaults are the benchmarks' champion's: benchmarks/sentiment_reviews.py passes the whole protocol file,
    and 20% of it (the protocol's test split) is held out here. With split files: --reviews TRAIN --test TEST."""
    from training.sentiment.dataset import describe, read_sources, split_sources  # lazy: keeps `--help` light

    for files in (reviews, test):  # bad files are refused before any run is started
        if files:
            frame = read_sources(files)
            typer.echo(describe(frame))
            if files is reviews and not test:
                split_sources(frame, 0)  # too few texts in a source to hold 20% out
    options = SentimentOptions(
        reviews=reviews or [],
        test=test or [],
        epochs=epochs,
        negative_weight=negative_weight,
        max_length=max_length,
        int8=int8,
        refit=refit,
    )
    result = train_and_report(NAME, workspace_dir, as_of, HORIZON_DAYS, options)
    for line in per_source_lines(result.metrics):
        typer.echo(line)


def per_source_lines(metrics: dict[str, float]) -> list[str]:
    """One line per source (where there are several): the model's, VADER's and the majority's figures."""
    sources = sorted(k[: -len("rows")] for k in metrics if k.startswith("source_") and k.endswith("_rows"))
    if len(sources) < 2:
        return []
    lines = []
    for key in sources:
        m = {k[len(key) :]: v for k, v in metrics.items() if k.startswith(key)}
        lines.append(
            f"  {key[len('source_') : -1]} ({m['rows']:,.0f} held out): accuracy {m['model_accuracy']:.3f}, "
            f"macro-F1 {m['model_macro_f1']:.3f}, neg. recall {m['model_negative_recall']:.3f} "
            f"(VADER {m['vader_accuracy']:.3f}, majority {m['majority_accuracy']:.3f})"
        )
    return lines


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
    scoring = float(scored.attrs.get("scoring_seconds", seconds))
    typer.echo(
        f"wrote {len(scored):,} scored texts to {out} in {seconds:.1f}s ({len(scored) / seconds:,.0f} texts/s): "
        f"scoring {scoring:.1f}s ({len(scored) / max(scoring, 1e-9):,.0f} texts/s), "
        f"loading the model and writing {seconds - scoring:.1f}s"
    )
