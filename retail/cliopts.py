"""Options and error handling shared by every `retail` command, the families' own commands included.

Imports stay light (settings, the workspace and the database load when a command runs), so `retail --help` is quick.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from retail.settings import Settings
    from retail.workspace import Workspace

WorkspaceOpt = Annotated[
    Path, typer.Option("--workspace", "-w", envvar="RETAIL_WORKSPACE", help="Workspace directory.")
]
DateOpt = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="A date, YYYY-MM-DD.")]
OutOpt = Annotated[Path, typer.Option(help="Output file (.csv or .parquet).")]
AliasOpt = Annotated[str, typer.Option(help="Registry alias to use.")]


def command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Configure logging and turn expected errors into one clear line and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from retail import logs
        from retail.settings import get_settings

        try:
            logs.configure(verbose=get_settings().verbose)
            return func(*args, **kwargs)
        except (ValueError, FileNotFoundError, KeyError) as exc:
            typer.secho(f"error: {_said(exc)}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None

    return wrapper


def _said(exc: Exception) -> str:
    """The error in words: a KeyError's bare key (`'store_id'`) becomes a sentence naming what is missing."""
    if not isinstance(exc, KeyError) or not exc.args or " " in str(exc.args[0]):
        return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return (
        f"missing {exc.args[0]!r}: a column or table this step needs is not in the workspace's data "
        "(docs/guides/data-scientists.md lists each table's columns; import them with `retail data import`)"
    )


def workspace(path: Path) -> tuple[Workspace, Settings]:
    from retail.settings import get_settings
    from retail.workspace import Workspace

    settings = get_settings(workspace=path)
    return Workspace.at(settings.workspace), settings


def engine(path: Path) -> Engine:
    """The workspace's application database (its keys, orders, webhooks, ...)."""
    from retail import db

    ws, settings = workspace(path)
    return db.engine(ws, settings)


def stamp(moment: datetime | None) -> str:
    """A moment as commands print it in tables, to the minute ("-" for none)."""
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


def train_and_report(name: str, workspace_dir: Path, as_of: datetime | None, horizon_days: int, options: Any) -> Any:
    """`retail train NAME`: the shared runner, then one line with the version, alias and headline figures; returns
    the runner's `TrainResult` (a family's command may say more)."""
    from training import families, run

    ws, settings = workspace(workspace_dir)
    result = run.train(name, ws, settings, as_of, horizon_days, options)
    m = result.metrics
    columns = families.family(name).list_columns
    figures = ", ".join(f"{title} {m.get(metric, float('nan')):.3f}" for title, metric in columns.items())
    typer.echo(f"{name} version {result.version} (@{result.alias}) in {result.seconds:.0f}s: {figures}")
    if result.lost:
        typer.echo(f"not promoted without --force, it lost to a baseline: {'; '.join(result.lost)}")
    return result


def predict_to_file(
    name: str, out: Path, workspace_dir: Path, as_of: datetime | None, alias: str, options: dict[str, Any]
) -> Any:
    """`retail predict NAME`: batch scores written whole to a .csv or .parquet file; returns the frame."""
    from retail.files import check_suffix, write_frame

    check_suffix(out)  # fail before the slow imports and scoring
    from training import run

    ws, settings = workspace(workspace_dir)
    frame = run.predict(name, ws, settings, as_of, alias, options)
    write_frame(frame, out)
    return frame
