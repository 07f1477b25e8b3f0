"""Recommendation candidates on the UCI Online Retail file, under the shared protocol (../shared/data/README.md).

Train on purchases before 2011-09-01; the truth is each known customer's purchases from then on. Prints
recall@10 and NDCG@10 on all products and on never-bought products (already-bought ones excluded from the
candidates) for each candidate source on its own, with its training time. It never fails on a time or a target.

    .venv/bin/python benchmarks/recommend_sources_online_retail.py [--data FILE] [--k 10]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from features.importers import import_online_retail
from training.recommend.candidates import (
    CandidateSource,
    CoPurchase,
    Fallback,
    ImplicitALS,
    ImplicitBPR,
    Popularity,
    Repeat,
)
from training.recommend.dataset import build_interactions
from training.recommend.metrics import evaluate_fitted, split_at

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail" / "online_retail.parquet"
CUTOFF = pd.Timestamp("2011-09-01")
SOURCES: dict[str, Callable[[], CandidateSource]] = {
    "popularity": Popularity,
    "recent popularity (90-day half life)": lambda: Popularity(half_life_days=90),
    "repeat-then-popular": lambda: Fallback(Repeat(), Popularity()),
    "ALS alone (64 factors, BM25)": ImplicitALS,
    "BPR alone (64 factors)": ImplicitBPR,
    "co-purchase (same order, cosine)": CoPurchase,
    "co-purchase (same customer, cosine)": lambda: CoPurchase(by="customer"),
}
# README baselines: (recall, NDCG) on all products, then on new products; None where the README gives none
REFERENCE: dict[str, tuple[float | None, float | None, float | None, float | None]] = {
    "popularity": (0.111, None, 0.052, None),
    "ALS (64 factors, BM25)": (0.319, 0.331, 0.112, 0.115),
    "repeat-then-popular": (0.337, 0.352, None, None),
}

log = logging.getLogger("benchmarks.recommend_sources_online_retail")


@dataclass
class Row:
    """One source's figures."""

    name: str
    fit_seconds: float
    all: dict[str, float]
    new: dict[str, float]


def run(data: Path, k: int = 10) -> tuple[list[Row], dict[str, float]]:
    """Import, split at the protocol cutoff, fit each source once and evaluate it both ways."""
    started = time.perf_counter()
    tx = import_online_retail(data)["transactions"]
    train, test = split_at(tx, CUTOFF)
    interactions = build_interactions(train)
    info = {
        "prepare_seconds": time.perf_counter() - started,
        "customers": interactions.n_customers,
        "products": interactions.n_products,
    }
    rows = []
    for name, make in SOURCES.items():
        source = make()
        fit_started = time.perf_counter()
        source.fit(interactions)
        fit_seconds = time.perf_counter() - fit_started
        everything = evaluate_fitted(source, interactions, test, k)
        new = evaluate_fitted(source, interactions, test, k, new_only=True)
        log.info("%s: fit %.2fs", name, fit_seconds)
        rows.append(Row(name, fit_seconds, everything, new))
    return rows, info


def _cell(value: float | None) -> str:
    return f"{value:>8.3f}" if value is not None else f"{'-':>8}"


def report(rows: list[Row], info: dict[str, float], k: int = 10) -> str:
    """The figures as a small plain-text table, README baselines underneath."""
    r, n = f"recall_at_{k}", f"ndcg_at_{k}"
    lines = [
        "Recommendation candidates, UCI Online Retail (protocol: ../shared/data/README.md)",
        f"train before {CUTOFF:%Y-%m-%d}: {info['customers']:.0f} customers x {info['products']:.0f} products; "
        f"evaluated on {rows[0].all['customers']:.0f} customers (all) and {rows[0].new['customers']:.0f} (new)",
        "",
        f"{'':40}{'all products':>16}{'never bought':>18}{'fit':>9}",
        f"{'':40}{'recall':>8}{'NDCG':>8}{'recall':>10}{'NDCG':>8}{'seconds':>9}",
    ]
    for row in rows:
        lines.append(
            f"{row.name:40}{row.all[r]:>8.3f}{row.all[n]:>8.3f}  {row.new[r]:>8.3f}{row.new[n]:>8.3f}"
            f"{row.fit_seconds:>9.2f}"
        )
    lines.append("")
    for name, (ra, na, rn, nn) in REFERENCE.items():
        lines.append(f"{'README: ' + name:40}{_cell(ra)}{_cell(na)}  {_cell(rn)}{_cell(nn)}")
    lines += ["", f"import and matrices: {info['prepare_seconds']:.1f}s"]
    return "\n".join(lines)


def main(
    data: Annotated[Path, typer.Option(help="The Online Retail file (parquet, csv or xlsx).")] = DEFAULT_DATA,
    k: Annotated[int, typer.Option(min=1, help="Cut-off of recall@k and NDCG@k.")] = 10,
    verbose: Annotated[bool, typer.Option(help="Log each source's training time as it goes.")] = False,
) -> None:
    """Print candidate-source figures on the real data under the shared protocol."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    if not data.exists():
        typer.echo(f"no data at {data}: pass --data FILE (the file lives in ../shared/data on development machines)")
        raise typer.Exit(2)
    rows, info = run(data, k)
    typer.echo(report(rows, info, k))


if __name__ == "__main__":
    typer.run(main)
