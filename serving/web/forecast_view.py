"""The forecasts page's figures: the chosen series, its chart, the override rows with their trail, the KPI tiles."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd

from features.derived import UNKNOWN
from serving.endpoints.demand import AccuracyResponse, ForecastRequest, ForecastResponse, Override, score
from serving.endpoints.errors import Rejected
from serving.runtime import Runtime
from serving.web import charts, forecast_data
from training.demand import frequency
from training.demand.adapter import DemandAdapter


@dataclass
class Choice:
    """What the planner picked (GET params), checked against the catalogue; `notes` say what the model lacks."""

    category: str = ""
    product_id: str = ""
    store_id: str = ""
    since: date | None = None
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def choose(adapter: DemandAdapter, cat: forecast_data.Catalogue, asked: Choice) -> Choice:
    """Fill in the product (the category's busiest when none is asked) and say which levels the model lacks."""
    chosen = Choice(asked.category, asked.product_id, asked.store_id, asked.since)
    if chosen.category and chosen.category not in cat.categories:
        chosen.problems.append(f"category: no forecast product is in category {chosen.category!r}")
        chosen.category = ""
    products = cat.of(chosen.category)
    if chosen.product_id and chosen.product_id not in set(cat.products["product_id"]):
        chosen.problems.append(f"product_id: no forecast for product {chosen.product_id!r}")
        chosen.product_id = ""
    if chosen.category and chosen.product_id not in set(products["product_id"]):
        chosen.product_id = ""
    if not chosen.product_id and len(products):
        chosen.product_id = str(products["product_id"].iloc[0])
        if chosen.category:
            chosen.notes.append(
                f"The demand model forecasts products, not categories: the chart shows {chosen.product_id}, "
                f"the busiest product of {chosen.category}; the revenue table below sums the whole category."
            )
    if cat.categories == [UNKNOWN]:
        chosen.notes.append(
            'The products have no categories in this data: every one is in "unknown", '
            "so the revenue table has one category."
        )
    stores = cat.stores.get(chosen.product_id, [])
    if adapter.level != "product_store":
        if chosen.store_id:
            chosen.problems.append(f"store_id: no store-level forecast for store {chosen.store_id!r}")
            chosen.store_id = ""
        chosen.notes.append(
            f"Demand model v{adapter.version} forecasts product totals, not stores: "
            "there is no store-level forecast (train it with --level product_store for one)."
        )
    elif chosen.store_id and chosen.store_id not in stores:
        chosen.problems.append(f"store_id: no forecast of {chosen.product_id} at store {chosen.store_id!r}")
        chosen.store_id = ""
    return chosen


def forecast(rt: Runtime, choice: Choice) -> ForecastResponse:
    """The API's `score` (GET /forecast) for the chosen series."""
    return score(rt, ForecastRequest(product_id=choice.product_id, store_id=choice.store_id or None))


def chart(adapter: DemandAdapter, answer: ForecastResponse) -> str:
    """Units sold before the forecast, then the P10-P90 band (filled), the P50 and the adjusted values.

    The traces are plotly's own JSON on the house figure's layout (`charts.figure`): building them as `go.Scatter`
    objects validates every field and took 80 ms a page.
    """
    past = forecast_data.history(adapter, answer.product_id, answer.store_id or "")
    days = [p.ds.isoformat() for p in answer.points]
    where = f" at {answer.store_id}" if answer.store_id else ""
    layout = json.loads(_layout(answer.freq))
    layout["title"]["text"] = f"{answer.product_id}{where}: units per {period(answer.freq)}"
    line = {"type": "scatter", "mode": "lines", "x": days}
    data: list[dict[str, Any]] = [
        line | {"y": [p.p90 for p in answer.points], "line": {"width": 0}, "showlegend": False, "hoverinfo": "skip"},
        line
        | {
            "y": [p.p10 for p in answer.points],
            "line": {"width": 0},
            "fill": "tonexty",
            "fillcolor": "rgba(31,95,191,0.18)",
            "name": "P10-P90 band",
        },
        line | {"y": [p.p50 for p in answer.points], "name": "P50", "line": {"color": "#1f5fbf"}},
    ]
    if any(p.override_id is not None for p in answer.points):
        adjusted = [p.adjusted for p in answer.points]
        data.append(
            line
            | {"y": adjusted, "mode": "lines+markers", "name": "adjusted", "line": {"color": "#c05600", "dash": "dash"}}
        )
    history = {"x": [d.date().isoformat() for d in past["ds"]], "y": past["units"].tolist()}
    data.append(line | history | {"name": "actual units", "line": {"color": "#1d2330"}})
    return json.dumps({"data": data, "layout": layout})


@functools.cache
def _layout(freq: str) -> str:
    """The house layout (`charts.figure`) as JSON, made once."""
    return json.dumps(json.loads(charts.spec(charts.figure("", "", "units")))["layout"])


def period(freq: str) -> str:
    """`day`, `week`, `month`... for a model's frequency (any alias)."""
    return frequency.name(freq)


CADENCE = {"day": "daily", "week": "weekly", "month": "monthly", "quarter": "quarterly", "year": "yearly"}


def cadence(freq: str) -> str:
    """`daily`, `weekly`, `monthly`... for a model's frequency (any alias: `W-MON` is weekly)."""
    return CADENCE[period(freq)]


def tiles(answer: ForecastResponse, judged: AccuracyResponse | Rejected, category: str = "") -> list[dict[str, Any]]:
    """KPI tiles: the series over the horizon (P50, adjusted, revenue) and the overrides' forecast value added
    (overall, and in the chosen category)."""
    p50 = sum(p.p50 for p in answer.points)
    adjusted = sum(p.adjusted for p in answer.points)
    revenue = sum(p.revenue_adjusted for p in answer.points)
    span = f"{len(answer.points)} {period(answer.freq)}s from {answer.as_of}"
    out: list[dict[str, Any]] = [
        {"name": "p50_units", "label": "P50 units", "value": p50, "shown": f"{p50:,.0f}", "note": span},
        {"name": "adjusted_units", "label": "Adjusted units", "value": adjusted, "shown": f"{adjusted:,.0f}"},
        {"name": "adjusted_revenue", "label": "Adjusted revenue", "value": revenue, "shown": f"£{revenue:,.0f}"},
    ]
    found = judged if isinstance(judged, AccuracyResponse) else None
    overall = found.overall if found else None
    note = f"{found.since} to {found.until}" if found else "no stored forecast to judge"
    for name, label, value in (
        ("forecast_value_added", "Forecast value added", overall.value_added if overall else None),
        ("model_wape", "Model WAPE", overall.model_wape if overall else None),
        ("adjusted_wape", "Adjusted WAPE", overall.adjusted_wape if overall else None),
    ):
        shown = None if value is None else (f"{value:+.1%}" if name == "forecast_value_added" else f"{value:.1%}")
        out.append({"name": name, "label": label, "value": value, "shown": shown, "note": note})
    row = next((r for r in found.by_category if r.key == category), None) if found and category else None
    if row is not None:
        value = row.value_added
        shown = None if value is None else f"{value:+.1%}"
        label = f"Value added in {category}"
        out.append({"name": "category_value_added", "label": label, "value": value, "shown": shown, "note": note})
    return out


def default_since(adapter: DemandAdapter) -> date:
    """Judge accuracy over as many days before the data's end as the forecast covers after it."""
    days = round(adapter.horizon * frequency.days(adapter.freq))
    return (adapter.as_of - pd.Timedelta(days=days)).date()


def trail(override: Override) -> list[dict[str, Any]]:
    """An override's audit entries in words: who, with which key, when, what (the values in the entry's detail)."""
    out = []
    for a in override.audit:
        try:
            detail = json.loads(a.detail)
        except ValueError:
            detail = {}
        facts = {k: v for k, v in detail.items() if k in _SHOWN and v is not None} if isinstance(detail, dict) else {}
        out.append(
            {
                "action": a.action,
                "author": a.author,
                "key": f"{a.key.name} (#{a.key.id})" if a.key else "",
                "at": a.at.strftime("%Y-%m-%d %H:%M UTC"),
                "facts": ", ".join(_fact(_SHOWN[k], v) for k, v in facts.items()),
            }
        )
    return out


_SHOWN = {
    "start": "from",
    "end": "to",
    "value": "units",
    "factor": "factor",
    "replaced_value": "replaced units",
    "edit_of": "edit of #",
    "into": "edited into #",
    "by": "overlapped by #",
    "reason": "reason:",
}


def _fact(label: str, value: Any) -> str:
    shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
    return f"{label}{shown}" if label.endswith("#") else f"{label} {shown}"


def window(answer: ForecastResponse) -> tuple[date, date]:
    """The days a new override may sensibly cover: the forecast's."""
    first = answer.points[0].ds if answer.points else date.today()
    last = answer.points[-1].ds if answer.points else first + timedelta(days=27)
    return first, last
