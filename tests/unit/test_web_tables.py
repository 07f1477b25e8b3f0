"""The staff pages' tables: sorted and paged on the server, and every row (not one page) as CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from serving.web.tables import Column, csv_response, table

COLUMNS = [Column("product", "Product"), Column("revenue", "Revenue", numeric=True), Column("units", "Units", True)]


def _rows(n: int) -> list[dict[str, Any]]:
    """`n` rows whose revenue runs the other way from their product ids (so the two sorts differ)."""
    return [{"product": f"P{i:03d}", "revenue": float(n - i), "units": i % 3} for i in range(n)]


def test_rows_sort_by_the_named_column_ascending_and_descending_with_a_minus() -> None:
    rows = _rows(5)
    up = table("top", COLUMNS, rows, sort="revenue")
    assert [r["revenue"] for r in up.rows] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert up.sort == "revenue"
    down = table("top", COLUMNS, rows, sort="-revenue")
    assert [r["revenue"] for r in down.rows] == [5.0, 4.0, 3.0, 2.0, 1.0]
    assert down.sort == "-revenue"


def test_an_unknown_sort_falls_back_to_the_first_column() -> None:
    rows = list(reversed(_rows(4)))
    for asked in ("nonsense", "-nonsense", "", None, "revenue; drop table"):
        shown = table("top", COLUMNS, rows, sort=asked)
        assert shown.sort == "product"
        assert [r["product"] for r in shown.rows] == ["P000", "P001", "P002", "P003"]


def test_rows_without_a_value_sort_after_those_with_one() -> None:
    rows = [{"product": "A", "revenue": None}, {"product": "B", "revenue": 2.0}, {"product": "C", "revenue": 1.0}]
    shown = table("top", COLUMNS, rows, sort="revenue")
    assert [r["product"] for r in shown.rows] == ["C", "B", "A"]
    shown = table("top", COLUMNS, rows, sort="-revenue")
    assert [r["product"] for r in shown.rows] == ["B", "C", "A"]  # descending too: unknown values stay at the end


def test_sorting_does_not_change_the_callers_rows() -> None:
    rows = _rows(3)
    before = [dict(r) for r in rows]
    table("top", COLUMNS, rows, sort="-units")
    assert rows == before


def test_pages_cut_the_sorted_rows_and_out_of_range_pages_are_clamped() -> None:
    rows = _rows(53)
    first = table("top", COLUMNS, rows, sort="product", page=1, per_page=25)
    assert (first.page, first.pages, first.total, len(first.rows)) == (1, 3, 53, 25)
    assert first.rows[0]["product"] == "P000" and first.rows[-1]["product"] == "P024"
    last = table("top", COLUMNS, rows, sort="product", page=3, per_page=25)
    assert [r["product"] for r in last.rows] == ["P050", "P051", "P052"]
    assert table("top", COLUMNS, rows, sort="product", page=99, per_page=25).page == 3
    assert table("top", COLUMNS, rows, sort="product", page=0, per_page=25).page == 1
    assert table("top", COLUMNS, rows, sort="product", page=-4, per_page=25).rows[0]["product"] == "P000"
    every = [r["product"] for p in (1, 2, 3) for r in table("top", COLUMNS, rows, "product", p, 25).rows]
    assert every == sorted(r["product"] for r in rows)  # no row lost or shown twice across the pages


def test_an_empty_table_has_one_empty_page() -> None:
    shown = table("top", COLUMNS, [], sort="-revenue", page=3)
    assert (shown.page, shown.pages, shown.total, shown.rows) == (1, 1, 0, [])


def test_the_csv_holds_every_row_headed_by_the_column_keys() -> None:
    rows = [r | {"secret_extra": "x"} for r in _rows(60)]
    answer = csv_response("top products.csv", COLUMNS, rows)
    assert answer.media_type is not None and answer.media_type.startswith("text/csv")
    assert answer.headers["content-disposition"] == 'attachment; filename="top products.csv"'
    assert answer.headers["cache-control"] == "no-store"
    body = bytes(answer.body).decode()
    read = list(csv.DictReader(io.StringIO(body)))
    assert list(read[0]) == ["product", "revenue", "units"]  # keys, not labels; extra fields left out
    assert len(read) == 60
    assert [float(r["revenue"]) for r in read] == [r["revenue"] for r in _rows(60)]


def test_csv_quotes_commas_and_quotes_in_values() -> None:
    rows = [{"product": 'Mug, "large"', "revenue": 1.5, "units": 2}]
    body = bytes(csv_response("x.csv", COLUMNS, rows).body).decode()
    assert next(csv.DictReader(io.StringIO(body)))["product"] == 'Mug, "large"'
