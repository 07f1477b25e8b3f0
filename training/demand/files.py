"""Files planners and data scientists hand to the demand commands, and the finance summary written beside exports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import DataError
from features.importers import CSV_LINE_OFFSET, read_file
from retail.files import check_suffix, write_frame
from retail.workspace import Workspace
from training.demand import choice, covariates, frequency
from training.demand.batch import revenue_by_category_month
from training.demand.dataset import Spec, read_attributes


def read_products(path: Path) -> list[str]:
    """The `product_id` column of a CSV (or parquet) file, blanks refused."""
    frame = read_file(path)
    if "product_id" not in frame:
        raise DataError("missing column product_id", file=path.name, column="product_id")
    ids = frame["product_id"]
    blank = ids.isna() | (ids.astype(str).str.strip() == "")
    if blank.any():
        row = int(np.flatnonzero(blank.to_numpy())[0]) + 1
        raise DataError("empty product_id", file=path.name, row=row, column="product_id", line=row + CSV_LINE_OFFSET)
    return list(dict.fromkeys(ids.astype(str).str.strip()))


def read_series(path: Path, freq: str | None = None, fill_gaps: bool = False) -> pd.DataFrame:
    """A `(unique_id, ds, y)` table: dates parsed and numbers checked, each problem named by row and column.

    With `freq` (an alias, `W` or `auto`: see `frequency.regular`), each series must hold one row per period:
    duplicates and gaps are named by series and date; `fill_gaps` counts missing periods as zero sales.
    """
    frame = read_file(path)
    missing = [c for c in ("unique_id", "ds", "y") if c not in frame]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", file=path.name, column=missing[0])
    line = CSV_LINE_OFFSET if path.suffix != ".parquet" else None
    out = pd.DataFrame({"unique_id": frame["unique_id"].astype(str)})
    for column, parse in (("ds", pd.to_datetime), ("y", pd.to_numeric)):
        parsed = parse(frame[column], errors="coerce")
        bad = parsed.isna() | (~np.isfinite(parsed) if column == "y" else False)
        if bad.any():
            row = int(np.flatnonzero(np.asarray(bad))[0]) + 1
            raise DataError(
                f"not a {'date' if column == 'ds' else 'number'}: {frame[column].iloc[row - 1]!r}",
                file=path.name,
                row=row,
                column=column,
                line=row + line if line is not None else None,
            )
        out[column] = parsed
    out = covariates.history_columns(frame, out)  # its other numeric columns: covariates the model learns
    duplicated = out.duplicated(["unique_id", "ds"])
    if freq is None and duplicated.any():  # (with a frequency, `regular` names every repeated series and date)
        row = int(np.flatnonzero(duplicated.to_numpy())[0]) + 1
        raise DataError("repeated (unique_id, ds)", file=path.name, row=row, column="ds")
    if freq is not None:
        try:
            out = frequency.regular(out, freq, fill_gaps)[0]
        except ValueError as exc:
            raise DataError(str(exc), file=path.name, column="ds") from None
    return out


def forecast_file(
    history: Path,
    out: Path,
    horizon: int,
    freq: str,
    country: str,
    fill_gaps: bool = False,
    future: Path | None = None,
    chosen: Callable[[choice.Chosen], None] | None = None,
) -> int:
    """Fit the demand model's code on a user's series, choose each series' method on its own backtest
    (`choice.py`), and write `unique_id, ds, p10, p50, p90, method`; rows written.

    `future` is a file of planned covariates (`unique_id, ds, <columns the history carries>`) for the horizon;
    `chosen` is called with the fitted choice (its backtest table, the method per series).
    """
    check_suffix(out)
    planned = covariates.read_future(future) if future is not None else None  # fail before the fit
    frame = read_series(history, freq, fill_gaps)
    if planned is not None:
        covariates.check_columns(planned, covariates.names(frame))
    spec = Spec(freq=frequency.resolve(frame, freq), horizon=horizon, country=country)
    fitted = choice.fit(frame, spec)
    result = fitted.forecast_all(frame, horizon, future=planned)[["unique_id", "ds", "p10", "p50", "p90", "method"]]
    write_frame(result, out)
    if chosen is not None:
        chosen(fitted)
    return len(result)


def revenue_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.revenue_by_category_month{out.suffix}")


def write_revenue(frame: pd.DataFrame, out: Path, ws: Workspace) -> Path:
    """Revenue P50 and P10-P90 by category and month, next to the forecast export."""
    path = revenue_path(out)
    write_frame(revenue_by_category_month(frame, read_attributes(ws)), path)
    return path
