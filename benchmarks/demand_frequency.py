"""The demand method choice across frequencies: each method's held-out WAPE and what the choice picked.

Data sets (`../shared/data`, protocol in its README):
- Online Retail daily: the protocol's 500 products (largest total quantity, every positive line, guests
  included), zero-filled 2010-12-01 .. 2011-12-08, held out from 2011-11-11 (28 days);
- the same products in whole Monday weeks (2010-12-06 .. 2011-12-04, 52 weeks), the last 13 held out;
- the same in calendar months (2010-12 .. 2011-11, 12 months), the last 3 held out;
- Rossmann daily, stores 1-3 (2013-01-01 .. 2015-07-31), the last 6 weeks held out: without covariates, and with
  the `Promo` flag in the history and the planned flags for the held-out days (`forecast(..., future=...)`);
- generated weekly store x department sales (`--only generated`, not in the default sweep): 2,700 series of 143
  weeks dated on Fridays, a yearly season of random phase and size, a late-November-to-Christmas lift, a small
  trend and 8% noise, the last 13 weeks held out (the shape of the weekly set the issue describes, which stays held
  out from the team).

For each: `training.demand.choice.fit` on the rows before the holdout (the LightGBM fit, its backtest against the
baselines, the choice per group), then seasonal naive, the moving average, AutoETS, LightGBM alone and the chosen
combination forecast the holdout; WAPE = sum|y - yhat| / sum|y|. Windows of the interval backtest: 2, or 1 where
the history is too short for 2 (weekly, monthly). AutoETS is left out (n/a) where the choice leaves it out (a
52-week season on more than 200 series). Prints figures; never fails on a target.

    .venv/bin/python benchmarks/demand_frequency.py [--only weekly,monthly]
"""

from __future__ import annotations

import glob
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from training.demand import choice
from training.demand.dataset import Spec

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
METHODS = ("seasonal_naive", "moving_average", "auto_ets", "lightgbm")
START, END, AS_OF = pd.Timestamp("2010-12-01"), pd.Timestamp("2011-12-09"), pd.Timestamp("2011-11-11")


@dataclass
class Case:
    name: str
    frame: pd.DataFrame  # unique_id, ds, y (+ covariate columns)
    freq: str
    horizon: int
    windows: int = 2
    country: str = "GB"
    covariates: tuple[str, ...] = ()


def online_retail_daily() -> pd.DataFrame:
    raw = pd.read_parquet(
        DATA / "online_retail" / "online_retail.parquet", columns=["StockCode", "InvoiceDate", "Quantity"]
    )
    tx = raw.rename(columns={"StockCode": "product_id", "InvoiceDate": "ts", "Quantity": "quantity"})
    bought = tx[(tx["quantity"] > 0) & (tx["ts"] >= START) & (tx["ts"] < END)].assign(
        product_id=lambda f: f["product_id"].astype(str), ds=lambda f: pd.to_datetime(f["ts"]).dt.floor("D")
    )
    top = bought.groupby("product_id")["quantity"].sum().nlargest(500).index
    daily = bought[bought["product_id"].isin(top)].groupby(["product_id", "ds"])["quantity"].sum()
    grid = pd.MultiIndex.from_product(
        [top, pd.date_range(START, END - pd.Timedelta(days=1))], names=["unique_id", "ds"]
    )
    return (
        daily.rename_axis(["unique_id", "ds"]).reindex(grid, fill_value=0).rename("y").astype("float64").reset_index()
    )


def aggregate(daily: pd.DataFrame, rule: str, first: str, last: str) -> pd.DataFrame:
    """Sums over periods of `rule` (stamped on their first day), whole periods from `first` to `last` only."""
    rows = daily[(daily["ds"] >= first) & (daily["ds"] <= last)]
    out = rows.groupby(["unique_id", pd.Grouper(key="ds", freq=rule, label="left", closed="left")])["y"].sum()
    return out.reset_index()


def rossmann() -> pd.DataFrame:
    parts = sorted(glob.glob(str(DATA / "rossmann_3stores" / "part.*.parquet")))
    raw = pd.concat([pd.read_parquet(p, columns=["Store", "Date", "Sales", "Promo"]) for p in parts])
    frame = pd.DataFrame(
        {
            "unique_id": "store_" + raw["Store"].astype(str),
            "ds": pd.to_datetime(raw["Date"]),
            "y": raw["Sales"].astype("float64"),
            "Promo": raw["Promo"].astype("float64"),
        }
    )
    return frame.sort_values(["unique_id", "ds"]).reset_index(drop=True)


def generated_weekly(n: int = 2700, weeks: int = 143, seed: int = 0) -> pd.DataFrame:
    """Weekly sales with a yearly season, a Christmas lift and a small trend (see the module docstring)."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2010-02-05", periods=weeks, freq="W-FRI")
    t = np.arange(weeks)
    lift = np.where(((ds.month == 11) & (ds.day >= 22)) | ((ds.month == 12) & (ds.day <= 24)), 1.0, 0.0)
    parts = []
    for i in range(n):
        season = 1 + rng.uniform(0.05, 0.4) * np.sin(2 * np.pi * t / 52.18 + rng.uniform(0, 2 * np.pi))
        trend = 1 + rng.normal(0, 0.002) * t
        y = rng.lognormal(8, 1.2) * season * (1 + lift * rng.uniform(0.1, 0.8)) * trend * rng.lognormal(0, 0.08, weeks)
        parts.append(pd.DataFrame({"unique_id": f"s{i // 80}_d{i % 80}", "ds": ds, "y": y.round(2)}))
    return pd.concat(parts, ignore_index=True)


def run_case(case: Case) -> dict[str, object]:
    """Fit the choice before the holdout, forecast it with every method, score each."""
    frame = case.frame
    rank = frame.groupby("unique_id").cumcount(ascending=False)  # 0 = the last period
    test, train = frame[rank < case.horizon], frame[rank >= case.horizon]
    history = train[["unique_id", "ds", "y", *case.covariates]]
    future = test[["unique_id", "ds", *case.covariates]] if case.covariates else None
    spec = Spec(freq=case.freq, horizon=case.horizon, country=case.country, interval_windows=case.windows)
    started = time.perf_counter()
    fitted = choice.fit(history, spec)
    lengths = history.groupby("unique_id").size()
    ets = choice.ets_affordable(case.freq, len(lengths), int(lengths.min()))  # as the choice itself decides
    extra = tuple(m for m in METHODS if ets or m != "auto_ets")
    out = fitted.forecast_all(history, case.horizon, future=future, extra=extra)
    seconds = time.perf_counter() - started
    rows = test[["unique_id", "ds", "y"]].merge(out, on=["unique_id", "ds"], how="left")
    missing = int(rows["p50"].isna().sum())
    total = float(rows["y"].abs().sum())
    wape = {m: float(np.abs(rows["y"] - rows[m].fillna(0.0)).sum() / total) for m in extra}
    wape["chosen"] = float(np.abs(rows["y"] - rows["p50"].fillna(0.0)).sum() / total)
    counts = ", ".join(f"{m} {n}" for m, n in sorted(fitted.counts().items(), key=lambda kv: -kv[1]))
    return {
        "case": case.name,
        **wape,
        "chosen_methods": counts,
        "missing": missing,
        "seconds": seconds,
        "fitted": fitted,
    }


def cases(only: set[str] | None) -> list[Case]:
    found: list[Case] = []
    want = lambda name: only is None or name in only  # noqa: E731
    if want("daily") or want("weekly") or want("monthly"):
        daily = online_retail_daily()
        if want("daily"):
            found.append(Case("Online Retail daily, 500 products, 28 days", daily, "D", 28))
        if want("weekly"):
            weekly = aggregate(daily, "W-MON", "2010-12-06", "2011-12-04")
            found.append(Case("Online Retail weekly, 13 weeks", weekly, "W-MON", 13, windows=1))
        if want("monthly"):
            monthly = aggregate(daily, "MS", "2010-12-01", "2011-11-30")
            found.append(Case("Online Retail monthly, 3 months", monthly, "MS", 3, windows=1))
    if want("rossmann") or want("promo"):
        stores = rossmann()
        if want("rossmann"):
            found.append(
                Case("Rossmann daily, 3 stores, 42 days", stores[["unique_id", "ds", "y"]], "D", 42, country="DE")
            )
        if want("promo"):
            found.append(Case("same, with Promo", stores, "D", 42, country="DE", covariates=("Promo",)))
    if only is not None and "generated" in only:
        found.append(Case("generated weekly, 2,700 series, 13 weeks", generated_weekly(), "W-FRI", 13, country="US"))
    return found


def main(
    only: Annotated[
        str | None, typer.Option(help="Comma-separated: daily, weekly, monthly, rossmann, promo, generated.")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Progress lines and each backtest table.")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
    results = []
    for case in cases(set(only.split(",")) if only else None):
        typer.echo(f"{case.name}: {case.frame['unique_id'].nunique()} series, {case.frame['ds'].nunique()} periods")
        try:
            found = run_case(case)
        except Exception as error:  # a figure that cannot be made is reported, never fatal
            typer.echo(f"  n/a: {type(error).__name__}: {error}")
            results.append({"case": case.name, "chosen_methods": "n/a"})
            continue
        fitted = found.pop("fitted")
        if verbose:
            typer.echo(choice.describe(fitted.table))
        typer.echo(f"  {found['seconds']:.0f}s, {found['missing']} held-out rows unforecast")
        results.append(found)
    table = pd.DataFrame(results).set_index("case")
    columns = [c for c in (*METHODS, "chosen", "chosen_methods") if c in table]
    typer.echo("\nheld-out WAPE per method, and the methods the backtest chose (series per method):")
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        typer.echo(table[columns].to_string(float_format=lambda v: f"{v:.3f}", na_rep="n/a"))


if __name__ == "__main__":
    typer.run(main)
