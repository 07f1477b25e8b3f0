"""Tables on pages: sorted and paged on the server, and the same rows as CSV."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response

PER_PAGE = 25


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    numeric: bool = False


@dataclass
class Table:
    """One page of rows, sorted by `sort` (a column key, `-key` for descending), with what the template needs."""

    name: str
    columns: Sequence[Column]
    rows: list[dict[str, Any]]
    sort: str
    page: int
    pages: int
    total: int


def table(
    name: str,
    columns: Sequence[Column],
    rows: list[dict[str, Any]],
    sort: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Table:
    """Sort all `rows` by a known column (unknown names fall back to the first column), then cut out `page`."""
    keys = {c.key for c in columns}
    sort = sort if sort and sort.lstrip("-") in keys else columns[0].key
    key = sort.lstrip("-")
    known = sorted((r for r in rows if r.get(key) is not None), key=lambda r: r[key], reverse=sort.startswith("-"))
    ordered = known + [r for r in rows if r.get(key) is None]  # rows without a value last, either way
    pages = max(1, math.ceil(len(rows) / per_page))
    page = min(max(1, page), pages)
    return Table(name, columns, ordered[(page - 1) * per_page : page * per_page], sort, page, pages, len(rows))


def csv_response(filename: str, columns: Sequence[Column], rows: list[dict[str, Any]]) -> Response:
    """Every row (not one page) as a CSV download, headed by the column keys."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[c.key for c in columns], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
