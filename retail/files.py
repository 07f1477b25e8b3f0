"""Files written whole or not at all: the one atomic writer every stage uses."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

OUTPUT_SUFFIXES = (".csv", ".parquet")


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """`write` into a temporary sibling, then rename it over `path`: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def check_suffix(out: Path) -> None:
    if out.suffix not in OUTPUT_SUFFIXES:
        raise ValueError(f"--out {out}: use a .csv or .parquet file name")


def write_frame(frame: pd.DataFrame, out: Path) -> None:
    """CSV or parquet by the file's suffix, written whole or not at all."""
    check_suffix(out)
    if out.suffix == ".parquet":
        write_parquet(frame, out)
    else:
        atomic_write(out, lambda tmp: frame.to_csv(tmp, index=False))
