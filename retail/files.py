"""Output files written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

OUTPUT_SUFFIXES = (".csv", ".parquet")


def check_suffix(out: Path) -> None:
    if out.suffix not in OUTPUT_SUFFIXES:
        raise ValueError(f"--out {out}: use a .csv or .parquet file name")


def write_frame(frame: pd.DataFrame, out: Path) -> None:
    """CSV or parquet by the file's suffix, written whole or not at all."""
    check_suffix(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    if out.suffix == ".parquet":
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_csv(tmp, index=False)
    tmp.replace(out)
