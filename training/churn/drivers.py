"""Churn drivers in words: one phrase per model feature, in the customer's own values, for CRM users.

Features that state one fact are one driver: the model's SHAP contributions are summed per fact (`FACTS`: days
since the last order and how overdue that is; one window's orders, spend, items and shopping days; the 90-day
trends; the ordering rhythm), and a window with no orders joins the days-since-the-last-order fact it follows
from. Each row's strongest positive facts are put into words with the phrase of their strongest feature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.catalog import CUSTOMER_WINDOWS

CURRENCY = "£"
SMALL_BATCH = 500  # rows below which contributions are computed on one thread
SPARE = 3  # extra candidates worded per row, for phrases that repeat another's meaning
Phrase = Callable[[pd.DataFrame], list[str]]


def _n(value: float) -> str:
    return f"{0.0 if np.isnan(value) else value:,.0f}"


def _money(value: float) -> str:
    """Pence only where they matter; a missing amount is nothing spent (no feature row = no purchases)."""
    value = 0.0 if np.isnan(value) else value
    return f"{CURRENCY}{value:,.2f}" if 0 < abs(value) < 10 else f"{CURRENCY}{value:,.0f}"


def _count(value: float, noun: str, plural: str = "") -> str:
    """'no orders', '1 order', '7 orders'; a missing count is none."""
    n = 0 if np.isnan(value) else round(value)
    return f"{_n(n) if n else 'no'} " + (noun if n == 1 else plural or f"{noun}s")


def _change(recent: float, previous: float, show: Callable[[float], str]) -> str:
    if round(recent, 2) == round(previous, 2) or np.isnan(previous):
        return "no change on the 90 days before"
    return f"{'down' if recent < previous else 'up'} from {show(previous)} the 90 before"


def _each(fmt: Callable[..., str], *columns: str) -> Phrase:
    """A phrase built row by row from `columns`; NaN arrives as float('nan') and must be handled by `fmt`."""

    def phrase(x: pd.DataFrame) -> list[str]:
        return [fmt(*values) for values in zip(*(x[c].to_numpy(dtype="float64") for c in columns), strict=True)]

    return phrase


def _pace(per_month: float) -> str:
    if _na(per_month) or per_month <= 0:
        return "no orders yet"
    if per_month < 0.5:  # "one every 2+ months" reads better than "0.2 orders a month"
        return f"about one order every {_n(1 / per_month)} months"
    return f"{per_month:.1f} orders a month on average"


def _na(value: float) -> bool:
    return bool(np.isnan(value))


def _windowed_phrases(window: int) -> dict[str, Phrase]:
    w = f"in the last {window} days"
    return {
        f"orders_{window}d": _each(lambda v: f"{_count(v, 'order')} {w}", f"orders_{window}d"),
        f"spend_{window}d": _each(lambda v: f"spent {_money(v)} {w}", f"spend_{window}d"),
        f"units_{window}d": _each(
            lambda v: f"bought {_count(v, 'item')} {w}" if v >= 0.5 else f"bought nothing {w}", f"units_{window}d"
        ),
        f"active_days_{window}d": _each(
            lambda v: f"shopped on {_count(v, 'day')} {w}" if v >= 0.5 else f"has not shopped {w}",
            f"active_days_{window}d",
        ),
    }


PHRASES: dict[str, Phrase] = {
    "recency_days": _each(
        lambda r: "no purchase on record" if _na(r) else f"no order for {_n(r)} days", "recency_days"
    ),
    "tenure_days": _each(
        lambda t: "no purchase on record" if _na(t) else f"first order {_n(t)} days ago", "tenure_days"
    ),
    "recency_over_gap": _each(
        lambda g, r: (
            "only one order so far"
            if _na(g)
            else f"usually orders every {_n(g)} days; {_n(r)} days since the last order"
        ),
        "gap_mean_days",
        "recency_days",
    ),
    "days_overdue": _each(
        lambda g, r: (
            "only one order so far"
            if _na(g)
            else f"{_n(r - g)} days past their usual {_n(g)}-day gap between orders"
            if r >= g
            else f"usually orders every {_n(g)} days; {_n(r)} days since the last order"
        ),
        "gap_mean_days",
        "recency_days",
    ),
    "overdue_z": _each(
        lambda g, sd, r: (
            "only one order so far"
            if _na(g)
            else f"{_n(r)} days since the last order, against a usual gap of {_n(g)} ± {_n(sd)} days"
        ),
        "gap_mean_days",
        "gap_std_days",
        "recency_days",
    ),
    "recency_over_last_gap": _each(
        lambda lg, r: (
            "only one order so far"
            if _na(lg)
            else f"{_n(r)} days since the last order; the gap before it was {_n(lg)} days"
        ),
        "last_gap_days",
        "recency_days",
    ),
    "orders_per_month": _each(lambda v: _pace(v), "orders_per_month"),
    **{k: v for window in CUSTOMER_WINDOWS for k, v in _windowed_phrases(window).items()},
    "orders_trend": _each(
        lambda a, b: f"{_count(a, 'order')} in the last 90 days, {_change(a, b - a, _n)}", "orders_90d", "orders_180d"
    ),
    "spend_trend": _each(
        lambda a, b: f"spent {_money(a)} in the last 90 days, {_change(a, b - a, _money)}", "spend_90d", "spend_180d"
    ),
    "orders_total": _each(lambda v: f"{_count(v, 'order')} in total", "orders_total"),
    "spend_total": _each(lambda v: f"spent {_money(v)} in total", "spend_total"),
    "avg_order_value": _each(
        lambda v: "no order value yet" if _na(v) else f"average order {_money(v)}", "avg_order_value"
    ),
    "avg_line_price": _each(
        lambda v: "no item price yet" if _na(v) else f"average item price {_money(v)}", "avg_line_price"
    ),
    "lines_per_order": _each(
        lambda v: (
            "no basket yet"
            if _na(v)
            else f"{v:.1f} different items per order"
            if v < 10
            else f"{_n(v)} different items per order"
        ),
        "lines_per_order",
    ),
    "returns_share": _each(
        lambda v: "nothing bought to return" if _na(v) else f"returned {v:.0%} of the items bought", "returns_share"
    ),
    "reorder_share": _each(
        lambda v: "nothing bought yet" if _na(v) else f"{v:.0%} of the items bought were bought before",
        "reorder_share",
    ),
    "bulk_share": _each(
        lambda v: "nothing bought yet" if _na(v) else f"{v:.0%} of the items bought by the dozen or more",
        "bulk_share",
    ),
    "product_popularity": _each(
        lambda v: (
            "nothing bought yet"
            if _na(v)
            else f"buys products that {_count(np.expm1(v), 'other customer')} had bought before (on average)"
        ),
        "product_popularity",
    ),
    "order_hour_mean": _each(
        lambda v: "no orders yet" if _na(v) else f"usually orders around {int(v) % 24:02d}:{int(v % 1 * 60):02d}",
        "order_hour_mean",
    ),
    "active_months": _each(lambda v: f"bought in {_count(v, 'calendar month')}", "active_months"),
    "distinct_products": _each(lambda v: f"has bought {_count(v, 'different product')}", "distinct_products"),
    "distinct_categories": _each(
        lambda v: "product categories unknown" if _na(v) else f"has bought from {_count(v, 'category', 'categories')}",
        "distinct_categories",
    ),
    "gap_mean_days": _each(
        lambda v: "only one order so far" if _na(v) else f"usually orders every {_n(v)} days", "gap_mean_days"
    ),
    "gap_std_days": _each(
        lambda v: "only one order so far" if _na(v) else f"gaps between orders vary by about {_n(v)} days",
        "gap_std_days",
    ),
    "last_gap_days": _each(
        lambda v: "only one order so far" if _na(v) else f"last two orders {_n(v)} days apart", "last_gap_days"
    ),
}


def contributions(classifier: lgb.LGBMClassifier, x: pd.DataFrame) -> np.ndarray:
    """Per-row SHAP contributions (log-odds) of each column of `x`; the last column is the bias."""
    # a real-time request holds a few rows: waking a thread pool for them costs more than the trees
    threads: dict[str, Any] = {"num_threads": 1} if len(x) < SMALL_BATCH else {}
    return np.asarray(classifier.predict(x, pred_contrib=True, **threads))


RECENCY = "recency"
PREFER = 1e9  # added to a positive recency contribution when choosing the feature that words its fact
FACTS: dict[str, str] = {  # feature -> the fact it states; features not listed are a fact each
    **dict.fromkeys(
        ("recency_days", "recency_over_gap", "days_overdue", "overdue_z", "recency_over_last_gap"), RECENCY
    ),
    **{
        f"{kind}_{window}d": f"window_{window}"
        for window in CUSTOMER_WINDOWS
        for kind in ("orders", "spend", "units", "active_days")
    },
    **dict.fromkeys(("orders_trend", "spend_trend"), "trend"),
    **dict.fromkeys(("gap_mean_days", "gap_std_days", "last_gap_days", "orders_per_month"), "rhythm"),
}


def _facts(x: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Each cell's fact (rows x features, as indices into the returned names): empty windows join recency."""
    names = list(dict.fromkeys(FACTS.get(c, c) for c in x.columns))
    index = {name: i for i, name in enumerate(names)}
    fact = np.tile([index[FACTS.get(c, c)] for c in x.columns], (len(x), 1))
    if RECENCY in index:
        for window in CUSTOMER_WINDOWS:
            orders = f"orders_{window}d"
            if orders in x.columns:
                empty = ~(x[orders].to_numpy(dtype="float64") > 0)  # NaN: no feature row, no orders
                for j, c in enumerate(x.columns):
                    if FACTS.get(c) == f"window_{window}":
                        fact[empty, j] = index[RECENCY]
    return fact, names


def phrases(contrib: np.ndarray, x: pd.DataFrame, k: int = 3) -> list[list[str]]:
    """Up to k distinct facts per row, strongest first: the facts whose features' contributions sum highest.

    A fact is worded by its feature with the largest positive contribution, among those the customer has a value
    for, recency's own features first (an empty window reads "no order for 45 days", not "no orders in the last
    30 days"). Vectorised: per feature one
    pass over the rows, one argsort, then only the chosen cells are put into words. A few spare facts are worded
    too, so that facts whose words coincide ("only one order so far") still leave k phrases.
    """
    feats = np.asarray(contrib)[:, : x.shape[1]]
    fact, names = _facts(x)
    rows = np.arange(len(x))
    total = np.zeros((len(x), len(names)))
    best = np.full((len(x), len(names)), -np.inf)
    voice = np.full((len(x), len(names)), -1)  # the feature that words each row's fact
    unknown = np.isnan(x.to_numpy(dtype="float64"))  # a value the customer lacks words a fact only as a last resort
    for j, c in enumerate(x.columns):
        np.add.at(total, (rows, fact[:, j]), feats[:, j])
        raises = feats[:, j] > 0
        rank = feats[:, j] + PREFER * ((FACTS.get(c) == RECENCY) * raises - 4 * unknown[:, j] - 8 * ~raises)
        better = rank > best[rows, fact[:, j]]
        best[rows[better], fact[better, j]] = rank[better]
        voice[rows[better], fact[better, j]] = j
    top = np.argsort(-total, axis=1, kind="stable")[:, : k + SPARE]
    chosen = np.take_along_axis(total, top, axis=1) > 0
    speaker = np.take_along_axis(voice, top, axis=1)
    words = np.empty(top.shape, dtype=object)
    for j in np.unique(speaker[chosen]):
        cells = chosen & (speaker == j)
        words[cells] = PHRASES[x.columns[j]](x.iloc[np.nonzero(cells.any(axis=1))[0]])
    return [list(dict.fromkeys(row[ok]))[:k] for row, ok in zip(words, chosen, strict=True)]


def drivers(classifier: lgb.LGBMClassifier, x: pd.DataFrame, k: int = 3) -> list[list[str]]:
    """The top-k churn drivers of each row of prepared features `x`, strongest first, in the customer's values."""
    return phrases(contributions(classifier, x), x, k)
