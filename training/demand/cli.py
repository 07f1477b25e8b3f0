"""`retail train demand`, `retail predict demand` and the `retail forecast` group.

Defaults come from the family's options (`training.demand.options`); the work is imported when a command runs, so
`retail --help` does not load the model libraries.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from retail.cliopts import AliasOpt, DateOpt, OutOpt, WorkspaceOpt, command, predict_to_file, train_and_report
from retail.cliopts import workspace as open_workspace
from retail.files import write_frame
from training.demand import frequency
from training.demand.dataset import Spec
from training.demand.options import HORIZON_DAYS, DemandOptions, Freq, Level

NAME = "demand"
DEFAULTS = DemandOptions()
OriginsOpt = Annotated[int, typer.Option(min=1, help="Backtest origins, H apart, the last at T - H.")]


def _freq(read: Callable[[str], str]) -> Callable[[str], str]:
    """A `--freq` callback: the alias as `read` (from `training.demand.frequency`) gives it, else one clear line."""

    def check(value: str) -> str:
        try:
            return read(value)
        except ValueError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None

    return check


FreqOpt = Annotated[
    Freq,
    typer.Option(
        callback=_freq(frequency.workspace),
        help="Periods of the workspace's sales: D (days), W (whole weeks from Monday), W-SUN (from Sunday; any "
        "weekday), MS (calendar months); the last period ends before --as-of.",
    ),
]
SeriesFreqOpt = Annotated[
    Freq,
    typer.Option(
        callback=_freq(frequency.parse),
        help="A pandas offset alias: auto (from the dates), D, W (weekday from the data), W-FRI, MS, ME, QS, QE.",
    ),
]
HorizonOpt = Annotated[int, typer.Option(min=1, help="Days to forecast: whole weeks for weekly, 28-31 a month for MS.")]
forecast_app = typer.Typer(help="Demand forecasts: any series, and accuracy against what sold.", no_args_is_help=True)
groups = {"forecast": forecast_app}  # command groups this family adds to `retail`


@command
def train(
    workspace_dir: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    horizon_days: HorizonOpt = HORIZON_DAYS,
    freq: FreqOpt = DEFAULTS.freq,
    level: Annotated[Level, typer.Option(help="Series per product, or per product and store.")] = DEFAULTS.level,
    series: Annotated[int, typer.Option(min=1, help="Fit on this many series with the most units.")] = DEFAULTS.series,
    origins: Annotated[
        int, typer.Option(min=1, help="Backtest origins, H apart, the last at T - H.")
    ] = DEFAULTS.origins,
) -> None:
    """Backtest against statsforecast baselines before --as-of, refit on everything, register `demand`."""
    options = DemandOptions(freq=freq, level=level, series=series, origins=origins)
    result = train_and_report(NAME, workspace_dir, as_of, horizon_days, options)
    for line in choice_lines(workspace_dir, result.run_id):
        typer.echo(line)


REFIT_CHOICE = "choice/backtest_refit.txt"  # logged by the family's fit of the registered model
TABLE_TITLE = "backtest WAPE per group of series (the lowest wins; a tie goes to the simpler method):"


def choice_lines(workspace_dir: Path, run_id: str) -> list[str]:
    """The registered model's backtest table (method per series group), as the run logged it."""
    import mlflow  # lazy: keeps `retail --help` light

    from training import tracking

    ws, settings = open_workspace(workspace_dir)
    tracking.connect(ws, settings)
    try:
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/{REFIT_CHOICE}")
    except (OSError, mlflow.exceptions.MlflowException):
        return []
    table = text.split("\n\n", 1)[0]
    return [TABLE_TITLE, table, f"the method of each series: artifact {REFIT_CHOICE} of MLflow run {run_id}"]


@command
def predict(
    out: OutOpt,
    workspace_dir: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    horizon_days: Annotated[int | None, typer.Option(min=1, help="Days to forecast (default: trained).")] = None,
    products: Annotated[Path | None, typer.Option(help="CSV with a product_id column (default: sold lately).")] = None,
    level: Annotated[Level | None, typer.Option(help="Default: the level the model was trained at.")] = None,
    alias: AliasOpt = "champion",
    future: Annotated[
        Path | None,
        typer.Option(
            help="CSV or parquet of planned prices and promotions: product_id[, store_id], ds, price or price_ratio; "
            "adds planned and p50_usual (the P50 without the plan)."
        ),
    ] = None,
) -> None:
    """product_id[, store_id], ds, p10, p50, p90, adjusted, revenue_* from --as-of; and revenue by category."""
    from training.demand.covariates import read_future  # lazy: keeps `retail --help` light
    from training.demand.files import read_products, write_revenue

    options = {"horizon_days": horizon_days, "level": level, "products": read_products(products) if products else None}
    if future is not None:
        options["future"] = read_future(future, ("product_id", "ds"), optional=("store_id",))
    frame = predict_to_file(NAME, out, workspace_dir, as_of, alias, options)
    summary = write_revenue(frame, out, open_workspace(workspace_dir)[0])
    typer.echo(f"wrote {len(frame):,} forecast rows to {out} and revenue by category and month to {summary}")


@forecast_app.command("series")
@command
def forecast_series(
    history: Annotated[
        Path, typer.Option(help="CSV or parquet with unique_id, ds, y; other numeric columns are covariates.")
    ],
    out: OutOpt,
    horizon: Annotated[int, typer.Option(min=1, help="Periods to forecast.")],
    freq: SeriesFreqOpt = frequency.AUTO,
    fill_gaps: Annotated[
        bool, typer.Option(help="Count periods missing inside a series as zero sales (default: refuse, naming them).")
    ] = False,
    country: Annotated[str, typer.Option(help="Public holidays of this country (ISO code).")] = Spec.country,
    future: Annotated[
        Path | None,
        typer.Option(
            help="CSV or parquet with unique_id, ds and planned values of the history's covariate columns (price, "
            "promotion, display flags) over the horizon; what it lacks is the usual value."
        ),
    ] = None,
) -> None:
    """Forecast your own series with the demand model's code (no workspace, no Feast): unique_id, ds, p10, p50, p90
    and the method each series got. A backtest on your data chooses per group of series between LightGBM, seasonal
    naive, a moving average, AutoETS and blends; the table it printed is never above seasonal naive."""
    from training.demand.choice import Chosen, describe  # lazy: keeps `retail --help` light
    from training.demand.files import forecast_file

    def report(fitted: Chosen) -> None:
        typer.echo(TABLE_TITLE)
        typer.echo(describe(fitted.table))
        counts = ", ".join(f"{m} {n:,}" for m, n in sorted(fitted.counts().items(), key=lambda kv: -kv[1]))
        typer.echo(f"series per method: {counts}")

    rows = forecast_file(history, out, horizon, freq, country, fill_gaps, future=future, chosen=report)
    typer.echo(f"wrote {rows:,} forecast rows to {out} (column `method`: the method each series got)")


@forecast_app.command("accuracy")
@command
def forecast_accuracy(
    since: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First day to judge, YYYY-MM-DD.")],
    workspace_dir: WorkspaceOpt = Path("."),
    out: Annotated[Path | None, typer.Option(help="Write the per-product table here (.csv or .parquet).")] = None,
) -> None:
    """Stored forecasts against what sold: WAPE and bias of model and adjusted values, logged to MLflow."""
    from training.demand import accuracy  # lazy: keeps `retail --help` light

    ws, settings = open_workspace(workspace_dir)
    result = accuracy.measure(ws, settings, pd.Timestamp(since))
    run_id = accuracy.log_to_mlflow(ws, settings, result)
    o = result.overall
    typer.echo(
        f"{result.since:%Y-%m-%d} .. {result.until:%Y-%m-%d}: {o['units']:,.0f} units over {o['rows']:,.0f} rows; "
        f"model WAPE {o['model_wape']:.3f} (bias {o['model_bias']:+.3f}), adjusted WAPE {o['adjusted_wape']:.3f} "
        f"(bias {o['adjusted_bias']:+.3f}), value added {o['value_added']:+.3f}; MLflow run {run_id}"
    )
    typer.echo(result.by["category"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if out is not None:
        write_frame(result.by["product"], out)
