"""Reading and writing the raw tables of a workspace (`<raw_dir>/<table>.parquet`).

Writing is all-or-nothing: every table is validated before anything touches the disk, files are written into a
temporary sibling directory, and only then moved into place, so a bad import or a crash mid-write never leaves
a mix of old and new tables behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from features.contract import TABLES, DataError, validate
from retail.workspace import Workspace

log = logging.getLogger(__name__)

REQUIRED_TABLE = "transactions"


def table_path(raw_dir: Path, name: str) -> Path:
    """Where table `name` lives (a parquet file, or a folder of parquet parts written by another tool)."""
    return Path(raw_dir) / f"{name}.parquet"


def _validated(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise ValueError(f"unknown raw tables {unknown}; the contract has {', '.join(TABLES)}")
    if REQUIRED_TABLE not in tables:
        raise DataError("the transactions table is required", file=f"{REQUIRED_TABLE}.parquet")
    return {name: validate(name, df, f"{name} table") for name, df in tables.items()}


def write_tables(raw_dir: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Replace the raw data set in `raw_dir` with `tables`, all or nothing.

    Contract tables already in `raw_dir` but absent from `tables` are removed, so tables of an earlier data
    set (simulated reviews, say) never mix with a newly imported one. Other files in `raw_dir` are left alone.
    """
    raw_dir = Path(raw_dir)
    clean = _validated(tables)
    raw_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{raw_dir.name}.new-", dir=raw_dir.parent))
    backup = Path(tempfile.mkdtemp(prefix=f".{raw_dir.name}.old-", dir=raw_dir.parent))
    try:
        for name, df in clean.items():
            df.to_parquet(staging / f"{name}.parquet", index=False)
        raw_dir.mkdir(exist_ok=True)
        _swap(raw_dir, staging, backup)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(backup, ignore_errors=True)
    log.info("wrote raw tables to %s: %s", raw_dir, {n: len(df) for n, df in clean.items()})


def _swap(raw_dir: Path, staging: Path, backup: Path) -> None:
    """Move old contract tables aside, new ones in; on any failure put the old ones back."""
    moved_out: list[str] = []
    moved_in: list[str] = []
    try:
        for name in TABLES:
            if table_path(raw_dir, name).exists():
                os.replace(table_path(raw_dir, name), table_path(backup, name))
                moved_out.append(name)
        for new in sorted(staging.iterdir()):
            os.replace(new, raw_dir / new.name)
            moved_in.append(new.name)
    except OSError:
        log.error("writing raw tables to %s failed; restoring the previous tables", raw_dir)
        for file_name in moved_in:
            (raw_dir / file_name).unlink(missing_ok=True)
        for name in moved_out:
            os.replace(table_path(backup, name), table_path(raw_dir, name))
        raise


def read_table(ws: Workspace, name: str, *, check: bool = True) -> pd.DataFrame | None:
    """Table `name` of the workspace (through its one reader, `Workspace.read_raw`), or None when it has none.

    With `check` (the default) the table is validated on the way in, so files dropped in by hand or by another
    tool are held to the same contract as what `write_tables` wrote.
    """
    if name not in TABLES:
        raise ValueError(f"unknown raw table {name!r}; the contract has {', '.join(TABLES)}")
    df = ws.read_raw(name)
    return validate(name, df, ws.raw_table(name).name) if check and df is not None else df


def read_tables(ws: Workspace, *, check: bool = True) -> dict[str, pd.DataFrame]:
    """Every table present in the workspace; the transactions table must be there."""
    tables = {name: read_table(ws, name, check=check) for name in TABLES}
    if tables[REQUIRED_TABLE] is None:
        raise FileNotFoundError(f"no {REQUIRED_TABLE}.parquet in {ws.raw_dir}: simulate or import a data set first")
    return {name: df for name, df in tables.items() if df is not None}
