"""Options and error handling shared by every `retail` command, the families' own commands included."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from retail import logs
from retail.settings import Settings, get_settings
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
        logs.configure(verbose=os.environ.get("RETAIL_VERBOSE") == "1")
        try:
            return func(*args, **kwargs)
        except (ValueError, FileNotFoundError, KeyError) as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None

    return wrapper


def workspace(path: Path) -> tuple[Workspace, Settings]:
    settings = get_settings(workspace=path)
    return Workspace.at(settings.workspace), settings


def trained(name: str, result: Any, columns: dict[str, str]) -> str:
    """One line about a training run: version, alias, its headline figures, and a baseline loss if any."""
    m = result.metrics
    figures = ", ".join(f"{title} {m.get(metric, float('nan')):.3f}" for title, metric in columns.items())
    line = f"{name} version {result.version} (@{result.alias}) in {result.seconds:.0f}s: {figures}"
    if result.lost:
        line += f"\nnot promoted without --force, it lost to a baseline: {'; '.join(result.lost)}"
    return line
