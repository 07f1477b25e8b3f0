"""The sales page (`/ui/sales`) for sales managers and finance: the sales report of `/v1/reports/sales`, drawn.

Every figure comes from `serving.commerce.sales_report` (the function the API answers with), for the chosen range
and the previous range of equal length; the forecast line from the stored demand runs (`sales_forecast`). Tables
sort and page on the server and each has a CSV of all its rows; open orders refresh from `/ui/sales/live`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from retail.workspace import Workspace
from serving.auth import Caller, require
from serving.commerce import sales_data, sales_report
from serving.commerce.errors import Invalid
from serving.commerce.payloads import SalesReport
from serving.commerce.sales_data import Frames
from serving.deps import database
from serving.web import sales_forecast, sales_view
from serving.web.pages import BY_NAME
from serving.web.render import render
from serving.web.tables import Column, csv_response, table

router = APIRouter()
PAGE = BY_NAME["sales"]
DEFAULT_DAYS = 28
Viewer = Annotated[Caller, Depends(require(*PAGE.roles))]
Db = Annotated[Engine, Depends(database)]
History = Annotated[Workspace | None, Depends(sales_data.workspace)]
Text = Annotated[str, Query(max_length=64)]
TableName = Literal["periods", "stores", "channels", "products", "categories"]


@dataclass(frozen=True)
class Choice:
    start: date
    end: date
    by: Literal["day", "week"]
    store_id: str | None
    channel: str | None

    def query(self) -> str:
        from urllib.parse import urlencode

        pairs = {"from": self.start.isoformat(), "to": self.end.isoformat(), "by": self.by}
        pairs |= {k: v for k, v in (("store_id", self.store_id), ("channel", self.channel)) if v}
        return urlencode(pairs)


def _day(field: str, text: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise HTTPException(422, f"{field}: {text!r} is not a date (YYYY-MM-DD)") from None


def _choice(found: list[Frames], start: str, end: str, by: str, store_id: str, channel: str) -> Choice:
    """The range asked for, or the last 28 days of data; `by` day or week; empty filters mean all."""
    if by not in ("day", "week"):
        raise HTTPException(422, f"by: {by!r} is not one of day, week")
    first, last = _day("from", start), _day("to", end)
    known = sales_report.span(found)
    latest = known[1] if known else date.today()
    last = last or (first + timedelta(days=DEFAULT_DAYS - 1) if first else latest)
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise HTTPException(422, f"to: {last} is before from: {first}")
    return Choice(first, last, by, store_id.strip() or None, channel.strip() or None)  # type: ignore[arg-type]


def _reports(engine: Engine, found: list[Frames], c: Choice) -> dict[str, Any]:
    def report(start: date, end: date, by: sales_report.By) -> SalesReport:
        return sales_report.sales(engine, start, end, by, store_id=c.store_id, channel=c.channel, found=found)

    try:
        now = report(c.start, c.end, c.by)
        before = report(*sales_report.previous(c.start, c.end), c.by)
    except Invalid as exc:
        raise HTTPException(422, exc.message) from None
    except OverflowError:  # the previous period would start before year 1
        raise HTTPException(422, f"from: {c.start} leaves no room for the previous period") from None
    return {
        "now": now,
        "before": before,
        "daily": now if c.by == "day" else report(c.start, c.end, "day"),
        "stores": report(c.start, c.end, "store"),
        "channels": report(c.start, c.end, "channel"),
    }


def _table_rows(engine: Engine, found: list[Frames], c: Choice, name: str, r: dict[str, Any]) -> list[dict[str, Any]]:
    if name in ("products", "categories"):
        level: Literal["product", "category"] = "product" if name == "products" else "category"
        return sales_report.products(
            engine, c.start, c.end, store_id=c.store_id, channel=c.channel, level=level, found=found
        )
    return sales_view.rows(r[{"periods": "now", "stores": "stores", "channels": "channels"}[name]])


def _columns(name: str, c: Choice) -> tuple[Column, ...]:
    if name == "products":
        return sales_view.PRODUCT_COLUMNS
    if name == "categories":
        return sales_view.CATEGORY_COLUMNS
    first = {"periods": "Week of" if c.by == "week" else "Day", "stores": "Store", "channels": "Channel"}[name]
    return sales_view.row_columns(first)


@router.get("/sales", response_class=HTMLResponse)
def sales_page(
    request: Request,
    engine: Db,
    ws: History,
    _: Viewer,
    start: Annotated[str, Query(alias="from", max_length=32)] = "",
    end: Annotated[str, Query(alias="to", max_length=32)] = "",
    by: Text = "day",
    store_id: Text = "",
    channel: Text = "",
) -> HTMLResponse:
    """KPI tiles against the previous period, charts, tables with CSV, live open orders."""
    found = sales_data.sources(engine, ws)
    c = _choice(found, start, end, by, store_id, channel)
    r = _reports(engine, found, c)
    stores, channels, has_store, has_channel = sales_report.choices(found)
    forecast = sales_forecast.revenue(engine, c.start, c.end + timedelta(days=DEFAULT_DAYS), c.store_id)
    base = f"/ui/sales?{c.query()}"
    tables = {}
    for name in ("periods", "stores", "channels", "products", "categories"):
        page = request.query_params.get(f"{name}_page", "1")
        tables[name] = table(
            name,
            _columns(name, c),
            _table_rows(engine, found, c, name, r),
            request.query_params.get(f"{name}_sort") or ("key" if name == "periods" else "-revenue"),
            int(page) if page.isdigit() else 1,
        )
        tables[name].rows = sales_view.readable(tables[name].rows)  # sorted on raw values, shown readable
    charts = {
        "trend": sales_view.trend(r["now"], r["before"]),
        "forecast": sales_view.forecast_chart(r["now"], r["daily"], forecast),
        "stores": sales_view.bars(r["stores"], "Revenue by store"),
        "channels": sales_view.bars(r["channels"], "Revenue by channel"),
    }
    return render(
        request,
        "sales.html",
        title="Sales",
        c=c,
        base=base,
        query=c.query(),
        tiles=sales_view.tiles(r["now"], r["before"]),
        now=r["now"],
        before=r["before"],
        notes={k: v for k, v in r["now"].notes.items() if k not in sales_view.LABELS},
        has_data=bool(found and sales_report.span(found)),
        stores=stores,
        channels=channels,
        has_store=has_store,
        has_channel=has_channel,
        forecast=forecast,
        charts=charts,
        tables=tables,
        live=sales_report.open_orders(engine, c.store_id, c.channel),
    )


@router.get("/sales/live")
def sales_live(engine: Db, _: Viewer, store_id: Text = "", channel: Text = "") -> dict[str, int]:
    """Open order-API orders by status (and their total), for the page's live counts."""
    counts = sales_report.open_orders(engine, store_id.strip() or None, channel.strip() or None)
    return counts | {"open": sum(counts.values())}


@router.get("/sales/{name}.csv")
def sales_csv(
    engine: Db,
    ws: History,
    _: Viewer,
    name: TableName,
    start: Annotated[str, Query(alias="from", max_length=32)] = "",
    end: Annotated[str, Query(alias="to", max_length=32)] = "",
    by: Text = "day",
    store_id: Text = "",
    channel: Text = "",
) -> Response:
    """Every row of one of the page's tables, for the same range and filters."""
    found = sales_data.sources(engine, ws)
    c = _choice(found, start, end, by, store_id, channel)
    r = _reports(engine, found, c) if name in ("periods", "stores", "channels") else {}
    rows = _table_rows(engine, found, c, name, r)
    return csv_response(f"sales-{name}-{c.start}-{c.end}.csv", _columns(name, c), rows)
