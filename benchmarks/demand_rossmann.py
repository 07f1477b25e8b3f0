"""Known-future covariates on real data: Rossmann stores 1-3, daily sales, the last 6 weeks held out.

The same demand model (`training.demand.model`, LightGBM on lags and calendar) is fitted on the three stores'
daily sales before 2015-06-20 and forecasts the 42 days to 2015-07-31 (the data's end):

- without covariates (only `unique_id, ds, y`);
- with `Promo` (the store's daily promotion flag), its values over the horizon given as planned (`future=`);
- with every flag Rossmann publishes ahead: `Promo`, `Open`, `SchoolHoliday` and a state-holiday flag.

The stores table gives each series its `category` (StoreType) and `tier` (Assortment). WAPE = sum|y - P50| /
sum|y| over every held-out day, and over the days the store was open; seasonal naive (the same weekday a week
earlier, repeated) for reference. Each model is fitted with `--seeds` LightGBM seeds (their mean is printed).
The last 6 weeks are the headline; `--origins` earlier 6-week windows (each with the history before it) show how
much one window says. Prints figures; never fails on a target.

    .venv/bin/python benchmarks/demand_rossmann.py [--data DIR] [--seeds 3] [--origins 6]
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from training.demand import model
from training.demand.dataset import Spec

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "rossmann_3stores"
HORIZON = 42
FLAGS = ["Promo", "Open", "SchoolHoliday", "StateHoliday"]
VARIANTS = {"no covariates": [], "Promo": ["Promo"], "Promo, Open, holidays": FLAGS}


def load(folder: Path = DEFAULT_DATA) -> pd.DataFrame:
    """`unique_id, ds, y, category, tier` and the flags: the parquet parts, the store table's type and assortment.

    StateHoliday is 1 on a public, Easter or Christmas holiday (codes 2-4 in these parts; 0 and 1 are none).
    """
    parts = sorted(folder.glob("part.*.parquet"))
    if not parts:
        raise FileNotFoundError(f"no part.*.parquet in {folder}")
    sales = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    stores = pd.read_csv(folder / "store.csv", usecols=["Store", "StoreType", "Assortment"])
    sales = sales.drop(columns=["StoreType", "Assortment"], errors="ignore").merge(stores, on="Store")
    return pd.DataFrame(
        {
            "unique_id": "store_" + sales["Store"].astype(str),
            "ds": pd.to_datetime(sales["Date"]).dt.floor("D"),
            "y": sales["Sales"].astype("float64"),
            "category": sales["StoreType"].astype(str),
            "tier": sales["Assortment"].astype(str),
            "Promo": sales["Promo"].astype(np.int64),
            "Open": sales["Open"].astype(np.int64),
            "SchoolHoliday": sales["SchoolHoliday"].astype(np.int64),
            "StateHoliday": (sales["StateHoliday"].astype(np.int64) >= 2).astype(np.int64),
        }
    ).sort_values(["unique_id", "ds"], ignore_index=True)


def wape(y: pd.Series, f: pd.Series) -> float:
    return float(np.abs(y - f).sum() / np.abs(y).sum())


def seasonal_naive(history: pd.DataFrame, ahead: pd.DataFrame) -> pd.Series:
    """The last week of each series, repeated over the horizon."""
    last = history.groupby("unique_id").tail(7).assign(dow=lambda f: f["ds"].dt.dayofweek)
    values = last.set_index(["unique_id", "dow"])["y"]
    keys = pd.MultiIndex.from_arrays([ahead["unique_id"], ahead["ds"].dt.dayofweek])
    return pd.Series(values.reindex(keys).to_numpy(), index=ahead.index)


def run_variant(history: pd.DataFrame, ahead: pd.DataFrame, flags: list[str], seed: int) -> pd.Series:
    """P50 of the model fitted with `flags` as covariates, aligned with `ahead`'s rows."""
    columns = ["unique_id", "ds", "y", "category", "tier", *flags]
    fitted = model.fit(history[columns], Spec(freq="D", horizon=HORIZON, country="DE"), seed)
    future = ahead[["unique_id", "ds", *flags]] if flags else None
    out = fitted.forecast(history[columns], HORIZON, future=future)
    return ahead[["unique_id", "ds"]].merge(out, on=["unique_id", "ds"], how="left")["p50"].set_axis(ahead.index)


def split(frame: pd.DataFrame, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History and the 42 held-out days of origin `k` (0: the last 6 weeks; k: ending 6k weeks earlier)."""
    end = frame["ds"].max() - pd.Timedelta(days=HORIZON * k)
    cut = end - pd.Timedelta(days=HORIZON - 1)
    return frame[frame["ds"] < cut], frame[(frame["ds"] >= cut) & (frame["ds"] <= end)].reset_index(drop=True)


def figures(history: pd.DataFrame, ahead: pd.DataFrame, seeds: int) -> dict[str, tuple[float, float]]:
    """(WAPE over every day, over open days) per model, each the mean over `seeds` fits."""
    opened = ahead["Open"] == 1
    naive = seasonal_naive(history, ahead)
    out = {"seasonal naive": (wape(ahead["y"], naive), wape(ahead["y"][opened], naive[opened]))}
    for name, flags in VARIANTS.items():
        runs = [run_variant(history, ahead, flags, seed) for seed in range(seeds)]
        out[name] = (
            float(np.mean([wape(ahead["y"], p50) for p50 in runs])),
            float(np.mean([wape(ahead["y"][opened], p50[opened]) for p50 in runs])),
        )
    return out


def main(
    data: Annotated[Path, typer.Option(help="The rossmann_3stores folder.")] = DEFAULT_DATA,
    seeds: Annotated[int, typer.Option(min=1, help="LightGBM seeds per model (figures are their mean).")] = 3,
    origins: Annotated[int, typer.Option(min=1, help="Held-out 6-week windows, the last first.")] = 6,
) -> None:
    logging.basicConfig(level=logging.WARNING)
    frame = load(data)
    history, ahead = split(frame, 0)
    typer.echo(
        f"Rossmann stores 1-3: {frame['unique_id'].nunique()} series to {frame['ds'].max():%Y-%m-%d}; held out "
        f"the last {HORIZON} days from {ahead['ds'].min():%Y-%m-%d} ({int(ahead['Promo'].sum())} store-days on "
        f"promotion, {int((ahead['Open'] == 0).sum())} closed), then {origins - 1} earlier 6-week windows"
    )
    table = {}
    for k in range(origins):
        history, ahead = split(frame, k)
        table[f"{ahead['ds'].min():%Y-%m-%d}"] = figures(history, ahead, seeds)
    names = list(next(iter(table.values())))
    typer.echo(f"\nWAPE all days / open days, mean of {seeds} seed(s)")
    typer.echo(f"{'window from':<14}" + "".join(f"{n:>25}" for n in names))
    for window, row in table.items():
        typer.echo(f"{window:<14}" + "".join(f"{row[n][0]:>17.3f} / {row[n][1]:.3f}" for n in names))
    means = {n: np.mean([row[n] for row in table.values()], axis=0) for n in names}
    typer.echo(f"{'mean':<14}" + "".join(f"{means[n][0]:>17.3f} / {means[n][1]:.3f}" for n in names))


if __name__ == "__main__":
    typer.run(main)
