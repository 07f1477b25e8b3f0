"""What the sales page draws from the report: KPI tiles with the previous period, charts and table columns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from serving.commerce.payloads import SalesReport, SalesRow
from serving.web.charts import figure
from serving.web.sales_forecast import Forecast
from serving.web.tables import Column

RATES = ("cancellation_rate", "return_rate", "repeat_purchase_rate")
LABELS = {
    "revenue": "Revenue",
    "orders": "Orders",
    "average_order_value": "Average order value",
    "units": "Units",
    "cancellation_rate": "Cancellation rate",
    "return_rate": "Return rate",
    "fulfilment_hours": "Fulfilment time",
    "repeat_purchase_rate": "Repeat-purchase rate",
}
MONEY = ("revenue", "average_order_value")


@dataclass(frozen=True)
class Tile:
    name: str
    label: str
    value: float | None
    shown: str
    note: str
    missing: str | None


def shown(name: str, value: float | None) -> str:
    """A figure as people read it: money with two decimals, rates in per cent, hours with one decimal."""
    if value is None:
        return "—"
    if name in MONEY:
        return f"{value:,.2f}"
    if name in RATES:
        return f"{100 * value:.1f}%"
    if name == "fulfilment_hours":
        return f"{value:.1f} h"
    return f"{int(value):,}"


def change(name: str, now: float | None, before: float | None) -> str:
    """How the figure moved since the previous period: per cent for amounts, percentage points for rates."""
    if now is None or before is None:
        return ""
    if name in RATES:
        return f"{100 * (now - before):+.1f} pt"
    if before == 0:
        return "new" if now else "no change"
    return f"{100 * (now - before) / before:+.1f}%"


def tiles(now: SalesReport, before: SalesReport) -> list[Tile]:
    out = []
    for name, label in LABELS.items():
        value, prior = getattr(now.total, name), getattr(before.total, name)
        moved = change(name, value, prior)
        note = f"Previous: {shown(name, prior)}" + (f" ({moved})" if moved else "")
        out.append(Tile(name, label, value, shown(name, value), note, now.notes.get(name)))
    return out


def _all_days(report: SalesReport) -> tuple[list[str], list[float]]:
    """Revenue for every period of the range (zero where nothing was sold), not only those with sales."""
    by_key = {r.key: r.revenue for r in report.rows}
    step = 7 if report.by == "week" else 1
    first = report.start - timedelta(days=report.start.weekday()) if step == 7 else report.start
    keys = []
    while first <= report.end:
        keys.append(first.isoformat())
        first += timedelta(days=step)
    return keys, [by_key.get(k, 0.0) for k in keys]


@cache
def _layout(y_title: str) -> dict[str, Any]:
    """The house figure's layout (`charts.figure`), worked out once: building plotly objects per request costs
    tens of milliseconds a chart, and the traces here are plain lists."""
    return figure("", "", y_title).to_plotly_json()["layout"]  # type: ignore[no-any-return]


def plot(title: str, traces: list[dict[str, Any]], y_title: str = "revenue") -> str:
    """A chart spec for the `chart` macro: the house layout with this title, these plotly.js traces."""
    base = _layout(y_title)
    layout = {**base, "title": {**base["title"], "text": title}}
    return json.dumps({"data": traces, "layout": layout}, separators=(",", ":"))


def trend(now: SalesReport, before: SalesReport) -> str:
    """Revenue per day (or week) in the range, the previous period drawn over the same places."""
    x, y = _all_days(now)
    _, prior = _all_days(before)
    unit = "week" if now.by == "week" else "day"
    shift = (now.start - before.start).days
    return plot(
        f"Revenue per {unit}",
        [
            {"type": "scatter", "x": x, "y": y, "name": f"{now.start} to {now.end}", "mode": "lines+markers"},
            {
                "type": "scatter",
                "x": x[: len(prior)],
                "y": prior[: len(x)],
                "name": f"previous period ({shift} days earlier)",
                "mode": "lines",
                "line": {"dash": "dash", "color": "#8a93a3"},
            },
        ],
    )


def forecast_chart(now: SalesReport, daily: SalesReport, forecast: Forecast) -> str:
    """Daily revenue against the demand forecast's P50 and P10-P90 band (revenue at the forecast's prices)."""
    traces: list[dict[str, Any]] = []
    days = forecast.days
    if len(days):
        x = [d.isoformat() for d in days["ds"]]
        line = {"type": "scatter", "x": x, "mode": "lines"}
        traces += [
            line | {"y": [round(v, 2) for v in days["p90"]], "line": {"width": 0}, "name": "P90", "showlegend": False},
            line
            | {
                "y": [round(v, 2) for v in days["p10"]],
                "line": {"width": 0},
                "fill": "tonexty",
                "fillcolor": "rgba(31,95,191,0.18)",
                "name": "P10-P90 band",
            },
            line | {"y": [round(v, 2) for v in days["p50"]], "name": "forecast P50", "line": {"dash": "dot"}},
        ]
    x, y = _all_days(daily)
    traces.append(
        {"type": "scatter", "x": x, "y": y, "mode": "lines+markers", "name": "revenue", "line": {"color": "#1d2330"}}
    )
    return plot("Revenue and the demand forecast", traces)


def bars(report: SalesReport, title: str) -> str:
    rows = sorted(report.rows, key=lambda r: -r.revenue)
    bar = {"type": "bar", "x": [r.key for r in rows], "y": [r.revenue for r in rows], "name": "revenue"}
    return plot(title, [bar | {"marker": {"color": "#1f5fbf"}}])


ROW_COLUMNS = (
    Column("key", "Period"),
    Column("revenue", "Revenue", True),
    Column("orders", "Orders", True),
    Column("average_order_value", "Avg order", True),
    Column("units", "Units", True),
    Column("returns", "Returns", True),
    Column("return_rate", "Return rate", True),
    Column("customers", "Customers", True),
    Column("repeat_purchase_rate", "Repeat rate", True),
    Column("cancellation_rate", "Cancel rate", True),
    Column("fulfilment_hours", "Fulfil h", True),
    Column("history_orders", "History", True),
    Column("api_orders", "API", True),
)
PRODUCT_COLUMNS = (  # figures before the category, so a phone sees them without scrolling the table far
    Column("product_id", "Product"),
    Column("name", "Name"),
    Column("revenue", "Revenue", True),
    Column("units", "Units", True),
    Column("returned_units", "Returned", True),
    Column("share", "Share", True),
    Column("category", "Category"),
)
CATEGORY_COLUMNS = (
    Column("category", "Category"),
    Column("revenue", "Revenue", True),
    Column("units", "Units", True),
    Column("returned_units", "Returned", True),
    Column("products", "Products", True),
    Column("share", "Share", True),
)


PERCENT = (*RATES, "share")


def readable(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """One page's rows as the table shows them: rates in per cent, hours with one decimal (CSV keeps raw values)."""
    out = []
    for row in rows:
        shown_row = dict(row)
        for name in PERCENT:
            if isinstance(row.get(name), int | float):
                shown_row[name] = f"{100 * float(row[name]):.1f}%"  # type: ignore[arg-type]
        if isinstance(row.get("fulfilment_hours"), int | float):
            shown_row["fulfilment_hours"] = f"{row['fulfilment_hours']:.1f}"
        out.append(shown_row)
    return out


def row_columns(first: str) -> tuple[Column, ...]:
    return (Column("key", first), *ROW_COLUMNS[1:])


def rows(report: SalesReport) -> list[dict[str, object]]:
    return [r.model_dump() for r in report.rows]


def total_row(row: SalesRow) -> dict[str, object]:
    return row.model_dump()


def days_between(start: date, end: date) -> int:
    return (end - start).days + 1
