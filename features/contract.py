"""The raw data contract as code: which tables exist, their columns and keys, and how input is checked.

Every way data enters the service (simulator, importers, order events) goes through `validate`, so the rest
of the code can rely on dtypes (ids are `str`, timestamps naive UTC `datetime64[ns]`) and keys without
re-checking, and a user with a bad file is told the file, row and column to fix instead of a traceback later.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

Kind = Literal["id", "str", "ts", "int", "float"]


@dataclass(frozen=True)
class Column:
    """One contract column; `nullable` says where a missing value is legitimate (a guest order, no text)."""

    name: str
    kind: Kind
    nullable: bool = False
    allowed: frozenset[str] | None = None  # closed vocabulary for str columns
    bounds: tuple[int, int] | None = None  # inclusive range for int columns


@dataclass(frozen=True)
class Table:
    """One raw table: required columns first, then optional ones, and the columns that must be unique."""

    name: str
    required: tuple[Column, ...]
    optional: tuple[Column, ...] = ()
    key: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.required + self.optional

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _opt(name: str, kind: Kind, allowed: frozenset[str] | None = None) -> Column:
    return Column(name, kind, nullable=True, allowed=allowed)


KINDS = frozenset({"online", "store"})
TIERS = frozenset({"good", "better", "best"})

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "transactions",
            required=(
                Column("order_id", "id"),
                Column("customer_id", "id", nullable=True),  # missing = guest purchase
                Column("product_id", "id"),
                Column("ts", "ts"),
                Column("quantity", "int"),  # negative = return
                Column("unit_price", "float"),
            ),
            optional=(_opt("store_id", "id"), _opt("channel", "str")),
            key=(),  # repeated order lines are legitimate
        ),
        Table(
            "products",
            required=(Column("product_id", "id"), Column("name", "str")),
            optional=(
                _opt("category", "str"),
                _opt("brand", "str"),
                _opt("list_price", "float"),
                _opt("tier", "str", TIERS),
                _opt("description", "str"),
            ),
            key=("product_id",),
        ),
        Table(  # specifications, one row per product and name, shown in the order of the file
            "product_attributes",
            required=(Column("product_id", "id"), Column("name", "str"), Column("value", "str")),
            key=("product_id", "name"),
        ),
        Table(
            "customers",
            required=(Column("customer_id", "id"),),
            optional=(
                _opt("signup_date", "ts"),
                _opt("region", "str"),
                _opt("channel", "str"),
                _opt("name", "str"),
                _opt("email", "str"),
            ),
            key=("customer_id",),
        ),
        Table(
            "stores",
            required=(Column("store_id", "id"), Column("name", "str"), Column("kind", "str", allowed=KINDS)),
            optional=(_opt("region", "str"),),
            key=("store_id",),
        ),
        Table(
            "reviews",
            required=(
                Column("review_id", "id"),
                Column("customer_id", "id"),
                Column("product_id", "id"),
                Column("ts", "ts"),
                Column("rating", "int", bounds=(1, 5)),
                Column("text", "str", nullable=True),
            ),
            key=("review_id",),
        ),
        Table(
            "inventory",
            required=(
                Column("store_id", "id"),
                Column("product_id", "id"),
                Column("on_hand", "int"),
                Column("ts", "ts"),
            ),
            key=("store_id", "product_id", "ts"),
        ),
    )
}


class DataError(ValueError):
    """Bad input data, located: `file`, 1-based data `row` (None: whole file), `column`, offending `value`.

    `line` is set for text files, where a person counts lines including the header; the message then says
    "line N" rather than "row N" so it matches what an editor shows.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str,
        row: int | None = None,
        column: str | None = None,
        value: Any = None,
        line: int | None = None,
    ) -> None:
        self.problem, self.file, self.row, self.column, self.value, self.line = (
            problem,
            file,
            row,
            column,
            value,
            line,
        )
        where = file
        if line is not None:
            where += f" line {line}"
        elif row is not None:
            where += f" row {row}"
        if column is not None:
            where += f", column {column}"
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:  # keep it picklable across processes despite keyword-only args
        return (_rebuild, (self.problem, self.file, self.row, self.column, self.value, self.line))


def _rebuild(problem: str, file: str, row: Any, column: Any, value: Any, line: Any) -> DataError:
    return DataError(problem, file=file, row=row, column=column, value=value, line=line)


def show(value: Any) -> str:
    """Render a value the way a person would search for it in the file."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(show(v) for v in value) + ")"
    return str(value)


@dataclass(frozen=True)
class _Where:
    """What error messages need to point a person at the right cell."""

    file: str
    line_offset: int | None
    labels: Mapping[str, str]

    def error(self, problem: str, column: str | None = None, pos: int | None = None, value: Any = None) -> DataError:
        row = None if pos is None else pos + 1
        line = None if row is None or self.line_offset is None else row + self.line_offset
        label = None if column is None else self.labels.get(column, column)
        return DataError(problem, file=self.file, row=row, column=label, value=value, line=line)


def _first(mask: pd.Series | np.ndarray) -> int | None:
    arr = np.asarray(mask, dtype=bool)
    return int(arr.argmax()) if arr.any() else None


def _blank_to_na(s: pd.Series) -> pd.Series:
    """Empty strings mean "missing" in CSV and spreadsheets; treat them so everywhere."""
    if s.dtype == object:
        return s.where(s.to_numpy() != "", None)
    return s


def _as_str(s: pd.Series, strip: bool) -> pd.Series:
    """Python str values (object dtype) with None for missing; 17850.0 becomes '17850' as a person expects."""
    if pd.api.types.is_float_dtype(s):
        whole = s.dropna()
        if np.isfinite(whole).all() and (whole == np.floor(whole)).all():
            s = s.astype("Int64")
    mask = s.notna().to_numpy()
    values = np.full(len(s), None, dtype=object)
    converted = s[mask].astype(str)
    if strip:
        converted = converted.str.strip()
    values[mask] = converted.to_numpy()
    if strip:
        values[values == ""] = None
    return pd.Series(values, index=s.index, dtype=object)


def _as_ts(s: pd.Series, col: str, where: _Where) -> pd.Series:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        out = s.dt.tz_convert("UTC").dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(s):
        out = s
    else:
        raw = s.astype(str).where(s.notna(), None) if pd.api.types.is_numeric_dtype(s) else s
        out = pd.to_datetime(raw, errors="coerce", utc=True)
        retry = out.isna() & raw.notna()
        if retry.any():  # mixed formats in one column: slower, but only for the odd rows
            out[retry] = pd.to_datetime(raw[retry], errors="coerce", utc=True, format="mixed")
        out = out.dt.tz_localize(None)
        bad = _first(out.isna() & raw.notna())
        if bad is not None:
            value = s.iloc[bad]
            raise where.error(f"cannot parse date/time {show(value)}", col, bad, value)
    try:
        return out.astype("datetime64[ns]")
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime) as exc:
        raise where.error(f"date/time out of range ({exc})", col) from exc


def _as_number(s: pd.Series, column: Column, where: _Where) -> pd.Series:
    num = s if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) else None
    if num is None:
        num = pd.to_numeric(s, errors="coerce")
        bad = _first(num.isna() & s.notna())
        if bad is not None:
            value = s.iloc[bad]
            raise where.error(f"not a number: {show(value)}", column.name, bad, value)
    num = num.astype("float64") if column.kind == "float" else num
    if column.kind == "int" and not pd.api.types.is_integer_dtype(num):
        values = num.to_numpy(dtype="float64", na_value=np.nan)
        bad = _first(np.isfinite(values) & (values != np.floor(values)) | np.isinf(values))
        if bad is not None:
            value = s.iloc[bad]
            raise where.error(f"not a whole number: {show(value)}", column.name, bad, value)
        num = pd.Series(values, index=s.index).astype("Int64")
    if column.kind == "int" and not num.isna().any():
        num = num.astype("int64")
    return num


def _coerce(s: pd.Series, column: Column, where: _Where) -> pd.Series:
    s = _blank_to_na(s)
    if column.kind in ("id", "str"):
        out = _as_str(s, strip=column.kind == "id")
    elif column.kind == "ts":
        out = _as_ts(s, column.name, where)
    else:
        out = _as_number(s, column, where)
    missing = _first(out.isna())
    if missing is not None and not column.nullable:
        raise where.error("missing value", column.name, missing)
    if column.allowed is not None:
        bad = _first(out.notna() & ~out.isin(column.allowed))
        if bad is not None:
            value = out.iloc[bad]
            raise where.error(
                f"{show(value)} is not one of {', '.join(sorted(column.allowed))}", column.name, bad, value
            )
    if column.bounds is not None:
        lo, hi = column.bounds
        bad = _first((out < lo) | (out > hi))
        if bad is not None:
            value = out.iloc[bad]
            raise where.error(f"{show(value)} is outside {lo}..{hi}", column.name, bad, value)
    return out


def _check_key(df: pd.DataFrame, table: Table, where: _Where) -> None:
    if not table.key or df.empty:
        return
    key = list(table.key)
    pos = _first(df.duplicated(key, keep="first"))
    if pos is None:
        return
    values = tuple(df[k].iloc[pos] for k in key)
    same = np.logical_and.reduce([(df[k] == v).to_numpy() for k, v in zip(key, values, strict=True)])
    first = int(np.flatnonzero(same)[0])
    earlier = where.error("", None, first)
    seen = f"line {earlier.line}" if earlier.line is not None else f"row {earlier.row}"
    value: Any = values[0] if len(values) == 1 else values
    raise DataError(
        f"duplicate key {show(value)} (first seen at {seen})",
        file=where.file,
        row=pos + 1,
        column=", ".join(where.labels.get(k, k) for k in key),
        value=value,
        line=None if where.line_offset is None else pos + 1 + where.line_offset,
    )


def validate(
    name: str,
    df: pd.DataFrame,
    file_label: str,
    *,
    line_offset: int | None = None,
    labels: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Check `df` against table `name` of the contract and return a clean copy with contract columns only.

    `file_label` names the source in messages. `line_offset` (1 for a CSV with a header line) makes messages
    say "line N" as an editor counts; `labels` maps contract columns back to the source's own column names
    (an importer's layout) so the message names what the user sees. Raises `DataError` on the first problem.
    """
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; expected one of {', '.join(TABLES)}")
    table = TABLES[name]
    where = _Where(file_label, line_offset, labels or {})
    doubled = df.columns[df.columns.duplicated()]
    if len(doubled):
        raise where.error("column appears more than once", str(doubled[0]))
    missing = [c.name for c in table.required if c.name not in df.columns]
    if missing:
        others = f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""
        raise where.error(f"missing required column{others}", missing[0])
    extra = [c for c in df.columns if c not in table.column_names]
    if extra:
        log.debug("%s: ignoring columns outside the contract: %s", file_label, extra)
    df = df.reset_index(drop=True)
    clean = pd.DataFrame(
        {c.name: _coerce(df[c.name], c, where) for c in table.columns if c.name in df.columns},
        index=df.index,
    )
    _check_key(clean, table, where)
    return clean
