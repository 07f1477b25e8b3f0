"""The `retail` command line: each command is a thin wrapper over a typed stage function."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from retail.cliopts import WorkspaceOpt, command
from retail.cliopts import workspace as _workspace
from training import families

log = logging.getLogger("retail")
app = typer.Typer(help="Retail ML service: data, features, training, registry and serving.", no_args_is_help=True)
data_app = typer.Typer(help="Raw data: simulate or import.", no_args_is_help=True)
import_app = typer.Typer(help="Import raw tables from files.", no_args_is_help=True)
features_app = typer.Typer(help="Feature tables and the Feast repository.", no_args_is_help=True)
train_app = typer.Typer(help="Train, evaluate and register models.", no_args_is_help=True)
predict_app = typer.Typer(help="Batch scoring.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry: list, compare, promote, roll back.", no_args_is_help=True)
app.add_typer(data_app, name="data")
data_app.add_typer(import_app, name="import")
app.add_typer(features_app, name="features")
app.add_typer(train_app, name="train")
app.add_typer(predict_app, name="predict")
app.add_typer(models_app, name="models")

# Command groups that live beside their code, one Typer app per owner: (module, attribute). Each app is added
# without a name, so its groups join `retail` under their own names; the families' come from their registry below.
# Named by module path, as the registry names the families' (no static import of the layers above); each module
# imports only typer and retail.cliopts at load, its work when a command runs, so `retail --help` stays quick.
APPS: tuple[tuple[str, str], ...] = (
    ("serving.auth_cli", "app"),  # keys
    ("serving.commerce.cli", "app"),  # webhooks, db, loyalty, feedback
    ("campaign.cli", "app"),  # campaign
)
for _module_name, _attribute in APPS:
    app.add_typer(getattr(importlib.import_module(_module_name), _attribute))


def _write_raw(workspace: Path, tables: dict[str, Any]) -> None:
    """Validate and write all raw tables at once (nothing is written if any table is refused)."""
    from features.rawio import write_tables

    ws, _ = _workspace(workspace)
    write_tables(ws.raw_dir, tables)
    typer.echo(", ".join(f"{name}: {len(t):,} rows" for name, t in tables.items()))


@data_app.command("simulate")
@command
def data_simulate(
    workspace: WorkspaceOpt = Path("."),
    customers: Annotated[int, typer.Option(min=10, help="Number of customers.")] = 10_000,
    days: Annotated[int, typer.Option(min=30, help="Days of history.")] = 730,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 0,
    end: Annotated[str, typer.Option(help="End of the simulated period (exclusive), YYYY-MM-DD.")] = "2026-06-30",
) -> None:
    """Simulate every raw table (seeded) into the workspace."""
    from features.simulate import simulate

    log.info("simulating %d customers over %d days (seed %d)", customers, days, seed)
    _write_raw(workspace, simulate(n_customers=customers, days=days, seed=seed, end=end))


@import_app.command("canonical")
@command
def import_canonical(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Folder with one file per table.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Import a folder of contract tables (transactions.csv|parquet, products.csv, ...)."""
    from features.importers import import_canonical as load

    _write_raw(workspace, load(folder))


@import_app.command("online-retail")
@command
def import_online_retail(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="UCI Online Retail file.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Import the UCI Online Retail layout (cancellations become returns)."""
    from features.importers import import_online_retail as load

    _write_raw(workspace, load(file))


def _app_database(ws: Any, settings: Any) -> Any:
    """The workspace's application database (an Engine), or None when it has none yet."""
    from retail import db

    address = db.url(ws, settings)
    if address.startswith("sqlite:///") and not Path(address.removeprefix("sqlite:///")).exists():
        return None
    return db.engine(ws, settings)


@features_app.command("build")
@command
def features_build(workspace: WorkspaceOpt = Path(".")) -> None:
    """Compute feature tables, `feast apply` them and materialize the online store.

    Lines sold or returned through the order API since the last build are appended to the raw transactions
    first (`retail db export-transactions`), and its scored feedback is rolled up with the reviews, so features
    and training see them.
    """
    from features.build import build_features
    from training.sentiment.batch import review_scores

    ws, settings = _workspace(workspace)
    feedback = None
    engine = _app_database(ws, settings)
    if engine is not None:
        from serving.commerce.export import export_transactions
        from serving.commerce.feedback import scored_rows

        appended = export_transactions(engine, ws)
        if appended:
            typer.echo(f"{appended:,} order lines from the order API appended to the raw transactions")
        feedback = scored_rows(engine)
    counts = build_features(ws, settings, feedback=feedback, review_scores=review_scores)
    typer.echo(", ".join(f"{name}: {n:,} feature rows" for name, n in counts.items()))


for _name in families.names():  # each family brings its own train and predict commands
    _module = families.cli_module(_name)
    train_app.command(_name)(_module.train)
    predict_app.command(_name)(_module.predict)
    for _group, _typer in getattr(_module, "groups", {}).items():  # a family's own command groups
        app.add_typer(_typer, name=_group)

NameArg = Annotated[str, typer.Argument(help=f"Registered model: {', '.join(families.names())}.")]


@models_app.command("list")
@command
def models_list(
    workspace: WorkspaceOpt = Path("."),
    name: Annotated[str | None, typer.Argument(help="Registered model (default: every one).")] = None,
) -> None:
    """Versions, aliases, evaluation metrics and promotion notes of the registered models."""
    from training import tracking
    from training.compare import versions_frame

    ws, settings = _workspace(workspace)
    client = tracking.connect(ws, settings)
    chosen = [families.entry(name).name] if name else families.names()
    listed = 0
    for model in chosen:
        table = versions_frame(client, model)
        if table.empty:
            continue
        listed += 1
        columns = families.family(model).list_columns
        typer.echo(f"{model}\n{'version':>7}  {'aliases':<20} " + " ".join(f"{c:>9}" for c in columns) + "  notes")
        for _, r in table.iterrows():
            values = " ".join(f"{r[c]:>9.3f}" for c in columns)
            notes = "; ".join(n for n in (r["promotion"], r["baseline_check"] and f"lost: {r['baseline_check']}") if n)
            typer.echo(f"{r['version']:>7}  {r['aliases'] or '-':<20} {values}  {notes}")
    if not listed:
        raise ValueError(f"no versions of {name or 'any model'} are registered in {ws.root}: train one first")


@models_app.command("promote")
@command
def models_promote(
    name: NameArg,
    workspace: WorkspaceOpt = Path("."),
    force: Annotated[bool, typer.Option(help="Promote even if the challenger does not win (recorded).")] = False,
) -> None:
    """Move @champion to @challenger when it beats the champion on the same evaluation."""
    from training import promotion, tracking

    ws, settings = _workspace(workspace)
    d = promotion.promote(tracking.connect(ws, settings), families.entry(name).name, force=force)
    scores = (
        ""
        if d.champion_score is None
        else f" (champion {d.metric} {d.champion_score:.4f}, challenger {d.challenger_score:.4f})"
    )
    verdict = f"promoted: version {d.champion} is @champion" if d.promoted else f"kept version {d.champion}"
    typer.echo(f"{name}: {verdict} - {d.reason}{scores}")


@models_app.command("compare")
@command
def models_compare(
    name: NameArg,
    workspace: WorkspaceOpt = Path("."),
    champion: Annotated[str | None, typer.Option(help="Version to treat as the champion (default @champion).")] = None,
    challenger: Annotated[str | None, typer.Option(help="Version under review (default @challenger).")] = None,
) -> None:
    """Champion and challenger (and the baselines) on the challenger's evaluation, side by side."""
    import pandas as pd

    from training import promotion, tracking

    ws, settings = _workspace(workspace)
    table = promotion.comparison(tracking.connect(ws, settings), families.entry(name).name, champion, challenger)
    with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 160):
        typer.echo(table.to_string())


@models_app.command("rollback")
@command
def models_rollback(name: NameArg, workspace: WorkspaceOpt = Path(".")) -> None:
    """Move @champion back to the version it replaced (recorded as tags on both)."""
    from training import promotion, tracking

    ws, settings = _workspace(workspace)
    d = promotion.rollback(tracking.connect(ws, settings), families.entry(name).name)
    typer.echo(f"{name}: version {d.champion} is @champion again - {d.reason}")


@app.command("serve")
@command
def serve(
    workspace: WorkspaceOpt = Path("."),
    port: Annotated[int, typer.Option(help="Port on localhost.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
) -> None:
    """Start the BentoML service for this workspace (foreground)."""
    ws, _ = _workspace(workspace)
    if not (ws.feature_repo / "feature_store.yaml").exists():
        raise FileNotFoundError(f"{ws.root} has no feature repository: run `retail features build` first")
    env = os.environ | {"RETAIL_WORKSPACE": str(ws.root)}
    args = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "serving.service:RetailService",
        "--port",
        str(port),
        "--host",
        host,
    ]
    log.info("serving %s on http://%s:%d", ws.root, host, port)
    os.execvpe(sys.executable, args, env)
