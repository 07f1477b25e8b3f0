"""The sales report `/v1/reports/sales` answers and the sales page shows: one function for both.

What counts (see `serving.commerce.sales_data`): the imported history's orders (the positive lines of one order id,
dated by the order's first line) and the order API's orders paid or later and not cancelled (dated by payment, at
their total after loyalty discounts); API orders that were exported into the raw transactions are counted once,
from the API. Returns (negative history lines; API refunds) count on the day they came back.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retail import db
from retail.workspace import Workspace
from serving.commerce import sales_data
from serving.commerce.errors import Invalid
from serving.commerce.payloads import SalesReport, SalesRow, money
from serving.commerce.sales_data import Frames, concat, day_number, day_of
from serving.commerce.tables import Order

By = Literal["day", "week", "store", "channel"]
UNKNOWN = "unknown"  # the key of history rows without a store or channel
OPEN = ("placed", "paid", "picking", "shipped", "ready_for_pickup")  # not yet delivered, picked up or cancelled
KPIS = (
    "revenue",
    "orders",
    "average_order_value",
    "units",
    "cancellation_rate",
    "return_rate",
    "fulfilment_hours",
    "repeat_purchase_rate",
)


def sales(
    engine: Engine,
    start: date,
    end: date,
    by: By = "day",
    *,
    ws: Workspace | None = None,
    store_id: str | None = None,
    channel: str | None = None,
    found: list[Frames] | None = None,
) -> SalesReport:
    """Revenue, orders, units, average order value, returns and return rate, cancellation rate, fulfilment time
    and repeat-purchase rate per day, week, store or channel, `start` to `end` inclusive, and their total.

    Both sources count: the imported history of `ws` (an order = the positive lines of one order id, dated by its
    first line; negative lines are returns) and the order API's orders that are paid or later and not cancelled,
    dated by payment, at full value (returns are not subtracted from revenue; they make `returns` and
    `return_rate`, dated by the return). API orders exported into the raw transactions count once, from the API.
    Cancellation rate (cancelled / placed, by placement day) and fulfilment hours (placed to the first shipped or
    picked_up) cover API orders only: history has no statuses; `notes` says so, and a figure no order supports
    is null with a note, never 0. `store_id` and `channel` keep only orders (and returns) of that store or
    channel; history without those columns then adds nothing (noted). `found`: the sources already loaded
    (`sales_data.sources`), for a page that asks several questions of one state.
    """
    if end < start:
        raise Invalid(f"to: {end} is before from: {start}", "to", end.isoformat())
    found = found if found is not None else sales_data.sources(engine, ws)
    part = concat([f.window(day_number(start), day_number(end), store_id, channel) for f in found])
    rows = figures(part, by)
    total = figures(part, None).get("total") or _row("total", {})
    report = SalesReport(
        start=start,
        end=end,
        by=by,
        store_id=store_id,
        channel=channel,
        rows=[rows[k] for k in sorted(rows)],
        total=total,
    )
    report.notes = _notes(report, found, ws, by)
    return report


def previous(start: date, end: date) -> tuple[date, date]:
    """The period of equal length just before `start`..`end`."""
    days = (end - start).days + 1
    return start - timedelta(days=days), start - timedelta(days=1)


def _keys(frame: pd.DataFrame, by: By | None) -> np.ndarray:
    """Each row's key: its day or week (as day numbers), store or channel (`unknown` where not recorded)."""
    if by is None:
        return np.zeros(len(frame), dtype=np.int64)
    if by in ("store", "channel"):
        column = frame["store_id" if by == "store" else "channel"].to_numpy(dtype=object)
        return np.where(column == "", UNKNOWN, column)
    days = frame["day"].to_numpy(dtype=np.int64)
    return days - (days + 3) % 7 if by == "week" else days  # back to Monday (1970-01-01 was a Thursday)


def figures(part: Frames, by: By | None) -> dict[str, SalesRow]:
    """One row per key of `by` (one `total` row for None) from a window of the combined frames.

    Sums with `np.bincount` over key codes: pandas' groupby costs milliseconds per call, and a page asks for many.
    """
    orders, placed, back = part.orders, part.placed, part.returns
    raw = [_keys(orders, by), _keys(placed, by), _keys(back, by)]
    everything = np.concatenate(raw) if any(len(k) for k in raw) else np.zeros(0, dtype=np.int64)
    keys, codes = np.unique(everything, return_inverse=True)
    n = len(keys)
    o_code, p_code, r_code = np.split(codes.reshape(-1), np.cumsum([len(raw[0]), len(raw[1])]))

    def total(code: np.ndarray, values: object = None) -> np.ndarray:
        weights = None if values is None else np.asarray(values, dtype=np.float64)
        return np.bincount(code, weights=weights, minlength=n) if n else np.zeros(0)

    hours = orders["fulfil_hours"].to_numpy(dtype=np.float64)
    done = ~np.isnan(hours)
    v = {
        "revenue_cents": total(o_code, orders["revenue_cents"]),
        "orders": total(o_code),
        "units": total(o_code, orders["units"]),
        "api_orders": total(o_code, orders["api"]),
        "fulfil_sum": total(o_code[done], hours[done]),
        "fulfilled": total(o_code[done]),
        "placed": total(p_code),
        "cancelled": total(p_code, placed["cancelled"]),
        "returns_cents": total(r_code, back["cents"]),
    }
    customer = orders["customer_id"].to_numpy(dtype=object)
    known = pd.notna(customer) & (customer != "")
    who, _ = pd.factorize(customer[known])
    pairs, counts = np.unique(o_code[known] * (int(who.max(initial=-1)) + 1) + who, return_counts=True)
    pair_key = pairs // (int(who.max(initial=-1)) + 1) if len(pairs) else pairs
    v["customers"] = total(pair_key)
    v["repeaters"] = total(pair_key, counts >= 2)
    rows = {}
    for i, key in enumerate(keys):
        if by is not None and not (v["orders"][i] or v["returns_cents"][i]):
            continue  # rows where something was sold or returned (placed-only keys count in the total's rate)
        name = "total" if by is None else key if by in ("store", "channel") else day_of(int(key)).isoformat()
        rows[str(name)] = _row(str(name), {k: float(x[i]) for k, x in v.items()})
    return rows


def _rate(part: float, whole: float, digits: int = 4) -> float | None:
    return round(part / whole, digits) if whole else None


def _row(key: str, v: dict[str, float]) -> SalesRow:
    cents, orders, api = int(v.get("revenue_cents", 0)), int(v.get("orders", 0)), int(v.get("api_orders", 0))
    return SalesRow(
        key=key,
        revenue=money(cents),
        orders=orders,
        units=int(v.get("units", 0)),
        average_order_value=money(round(cents / orders)) if orders else 0.0,
        history_orders=orders - api,
        api_orders=api,
        customers=int(v.get("customers", 0)),
        returns=money(int(v.get("returns_cents", 0))),
        return_rate=_rate(v.get("returns_cents", 0), cents),
        cancellation_rate=_rate(v.get("cancelled", 0), v.get("placed", 0)),
        fulfilment_hours=_rate(v.get("fulfil_sum", 0.0), v.get("fulfilled", 0), 2),
        repeat_purchase_rate=_rate(v.get("repeaters", 0), v.get("customers", 0)),
    )


def _notes(report: SalesReport, found: list[Frames], ws: Workspace | None, by: By) -> dict[str, str]:
    """Why a figure of the total is null, or covers the order API alone; what the history does not record."""
    total, notes = report.total, {}
    history = found[0] if len(found) > 1 else None
    if total.cancellation_rate is None:
        notes["cancellation_rate"] = (
            "No order-API order was placed in these days; imported history records no cancellations."
        )
    elif total.history_orders:
        notes["cancellation_rate"] = "Order-API orders only: imported history records no cancellations."
    if total.fulfilment_hours is None:
        notes["fulfilment_hours"] = (
            "No order-API order counted in these days has shipped or been picked up; imported history records "
            "no shipping or pick-up times."
        )
    elif total.history_orders:
        notes["fulfilment_hours"] = "Order-API orders only: imported history records no shipping or pick-up times."
    if total.return_rate is None:
        notes["return_rate"] = "No sales in these days, so no return rate."
    if total.repeat_purchase_rate is None:
        notes["repeat_purchase_rate"] = "No order by a known customer in these days (guest orders only, or none)."
    if not total.orders:
        filtered = report.store_id or report.channel
        notes["orders"] = "No counted order in these days" + (" for this filter." if filtered else ".")
    for column, label, asked in (("store_id", "stores", report.store_id), ("channel", "channels", report.channel)):
        has = history is None or (history.has_store if column == "store_id" else history.has_channel)
        if not has and (asked or by == column.removesuffix("_id")):
            notes[column] = f"The imported history records no {label}: " + (
                "only order-API orders can match this filter." if asked else f"its orders are under '{UNKNOWN}'."
            )
    return notes


def span(found: list[Frames]) -> tuple[date, date] | None:
    """The first and last day with a counted order in these sources (`sales_data.sources`), or None."""
    days = [f.orders["day"] for f in found if len(f.orders)]
    if not days:
        return None
    return day_of(min(int(d.iloc[0]) for d in days)), day_of(max(int(d.iloc[-1]) for d in days))


def choices(found: list[Frames]) -> tuple[list[str], list[str], bool, bool]:
    """The stores and channels orders were counted at, and whether the history records stores and channels."""
    stores = sorted({str(s) for f in found for s in f.orders["store_id"].unique() if s})
    channels = sorted({str(c) for f in found for c in f.orders["channel"].unique() if c})
    history = found[0] if len(found) > 1 else None
    return stores, channels, history is None or history.has_store, history is None or history.has_channel


def products(
    engine: Engine,
    start: date,
    end: date,
    *,
    ws: Workspace | None = None,
    store_id: str | None = None,
    channel: str | None = None,
    level: Literal["product", "category"] = "product",
    found: list[Frames] | None = None,
) -> list[dict[str, object]]:
    """Revenue (at line prices, before loyalty discounts), units and units returned per product or category over
    the orders `sales` counts, largest revenue first; `share` is the part of all lines' revenue."""
    found = found if found is not None else sales_data.sources(engine, ws)
    part = concat([f.window(day_number(start), day_number(end), store_id, channel) for f in found])
    ids = np.concatenate(
        [part.lines["product_id"].to_numpy(dtype=object), part.returns["product_id"].to_numpy(dtype=object)]
    )
    codes, uniques = pd.factorize(ids)
    n, cut = len(uniques), len(part.lines)
    cents = np.bincount(codes[:cut], weights=part.lines["cents"].to_numpy(dtype=np.float64), minlength=n)
    units = np.bincount(codes[:cut], weights=part.lines["units"].to_numpy(dtype=np.float64), minlength=n)
    back = np.bincount(codes[cut:], weights=part.returns["units"].to_numpy(dtype=np.float64), minlength=n)
    whole = float(cents.sum()) or 1.0
    cents, units, back = cents.tolist(), units.tolist(), back.tolist()  # plain floats, not numpy scalars
    names = _names(found)
    rows: dict[str, dict[str, float]] = {}
    for i, product_id in enumerate(uniques):
        name, category = names.get(product_id, ("", ""))
        key = (category or "uncategorised") if level == "category" else product_id
        row = rows.setdefault(key, {"cents": 0.0, "units": 0.0, "returned": 0.0, "products": 0.0})
        row["cents"] += cents[i]
        row["units"] += units[i]
        row["returned"] += back[i]
        row["products"] += 1
    out: list[dict[str, object]] = []
    for key, v in sorted(rows.items(), key=lambda kv: (-kv[1]["cents"], kv[0])):
        if level == "category":
            head: dict[str, object] = {"category": key}
        else:
            head = {"product_id": key, "name": names.get(key, ("", ""))[0], "category": names.get(key, ("", ""))[1]}
        out.append(
            head
            | {
                "revenue": money(round(v["cents"])),
                "units": int(v["units"]),
                "returned_units": int(v["returned"]),
                "share": round(v["cents"] / whole, 4),
            }
            | ({"products": int(v["products"])} if level == "category" else {})
        )
    return out


_names_memo: dict[tuple[int, ...], tuple[list[Frames], dict[str, tuple[str, str]]]] = {}


def _names(found: list[Frames]) -> dict[str, tuple[str, str]]:
    """Product id -> (name, category): the order API's catalogue first, then the raw products table (history)."""
    memo_key = tuple(id(f.products) for f in found)
    memo = _names_memo.get(memo_key)  # one look-up: another thread may clear the memo between two
    if memo is not None:
        return memo[1]
    names: dict[str, tuple[str, str]] = {}
    for frames in reversed(found):  # the API's frames come last
        table = frames.products
        for product_id, name, category in zip(table["product_id"], table["name"], table["category"], strict=True):
            clean = (name if isinstance(name, str) else "", category if isinstance(category, str) else "")
            had_name, had_category = names.get(str(product_id), ("", ""))
            names[str(product_id)] = (had_name or clean[0], had_category or clean[1])
    _names_memo.clear()  # one state at a time: the frames kept here keep their ids from being reused
    _names_memo[memo_key] = (list(found), names)
    return names


def open_orders(engine: Engine, store_id: str | None = None, channel: str | None = None) -> dict[str, int]:
    """Order-API orders not yet delivered, picked up or cancelled, counted by status (every open status named)."""
    query = select(Order.status, func.count()).where(Order.status.in_(OPEN)).group_by(Order.status)
    if store_id is not None:
        query = query.where(Order.store_id == store_id)
    if channel is not None:
        query = query.where(Order.channel == channel)
    with Session(db.reader(engine)) as s:
        counts = {status: int(n) for status, n in s.execute(query).all()}
    return {status: counts.get(status, 0) for status in OPEN}
