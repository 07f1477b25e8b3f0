"""The one training runner: as-of checks, evaluate-then-refit, the MLflow run, log_model, registration, aliases.

Every family is trained the same way. A fit made on labels ending by `T - H` is scored on `[T - H, T)` against
the family's baselines; then the model is refitted on everything whose labels end by `T`, and that refit is what
gets registered (a family whose `refits` says no registers the evaluated fit itself). Both fits' figures go into
one MLflow run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import pandas as pd

from retail.settings import Settings
from retail.workspace import Workspace
from training import compare, families, tracking
from training.family import Context, Dataset, Family, Options, Split

log = logging.getLogger(__name__)
TX_COLUMNS = ["order_id", "customer_id", "product_id", "ts", "quantity", "unit_price"]
LOCK_FILE = Path(__file__).resolve().parents[1] / "requirements.lock"


@cache
def _locked() -> dict[str, str]:
    if not LOCK_FILE.exists():
        return {}
    pins = (line.split("==", 1) for line in LOCK_FILE.read_text().splitlines() if "==" in line)
    return {name.strip().lower().replace("_", "-"): version.strip() for name, version in pins}


def pinned(packages: tuple[str, ...]) -> list[str]:
    """`name==version` for each package: the lock's pin, or the installed version where there is no lock."""
    locked = _locked()
    return [f"{p}=={locked.get(p.lower().replace('_', '-')) or metadata.version(p)}" for p in packages]


def data_end(tx: pd.DataFrame) -> pd.Timestamp:
    """The day after the newest transaction: the latest `as_of` whose labels are all in the data."""
    return tx["ts"].max().floor("D") + pd.Timedelta(days=1)


def context(
    ws: Workspace,
    settings: Settings,
    as_of: pd.Timestamp | None,
    horizon_days: int,
    progress: Callable[[str], None] = log.info,
) -> Context:
    """Transactions before `as_of` (default: the end of the data), refused if `as_of` or the history won't do."""
    if not (ws.feature_repo / "feature_store.yaml").exists():
        raise FileNotFoundError(f"{ws.root} has no feature repository: run `retail features build` first")
    tx = ws.read_transactions(TX_COLUMNS)
    end = data_end(tx)
    as_of = pd.Timestamp(as_of).floor("D") if as_of is not None else end
    if as_of > end:
        raise ValueError(f"--as-of {as_of:%Y-%m-%d} is after the data ends ({end:%Y-%m-%d}): labels would be missing")
    tx = tx[tx["ts"] < as_of]
    if tx.empty or tx["ts"].min() >= as_of - pd.Timedelta(days=2 * horizon_days):
        raise ValueError(
            f"less than {2 * horizon_days} days of transactions before {as_of:%Y-%m-%d}: an evaluation needs "
            f"{horizon_days} days to fit on and {horizon_days} to score on (use a later --as-of or shorter horizon)"
        )
    return Context(ws, settings, as_of, tx.reset_index(drop=True), progress)


def _fit_and_evaluate(
    family: Family, ctx: Context, horizon: pd.Timedelta, options: Options
) -> tuple[dict[str, float], Any, Dataset]:
    split = Split(train_end=ctx.as_of - horizon, horizon=horizon, test_end=ctx.as_of)
    ctx.progress(f"{family.name}: evaluation fit on labels ending by {split.train_end:%Y-%m-%d}")
    data = family.dataset(ctx, split, options)
    mlflow.log_params(data.params)
    model = family.fit(ctx, data, options)
    evaluation = family.evaluate(ctx, model, family.baselines(ctx, data), data)
    mlflow.log_metrics(evaluation.metrics)
    for artifact, figure in evaluation.figures.items():
        mlflow.log_figure(figure, artifact)
    compare.log_evaluation_set(evaluation.eval_set)
    return evaluation.metrics, model, data


def train(
    name: str,
    ws: Workspace,
    settings: Settings,
    as_of: pd.Timestamp | None = None,
    horizon_days: int | None = None,
    options: Options | None = None,
    progress: Callable[[str], None] = log.info,
) -> tracking.TrainResult:
    """Evaluate, refit and register one family's model using only data from before `as_of`."""
    started = time.perf_counter()
    family = families.family(name)
    options = options or family.options_type()
    horizon_days = horizon_days or family.default_horizon_days
    horizon = pd.Timedelta(days=horizon_days)
    ctx = context(ws, settings, as_of, horizon_days, progress)
    family.check_inputs(ctx, options)  # a missing table or column is named before any run is recorded
    client = tracking.connect(ws, settings)
    experiment = tracking.experiment(ws, family.name)
    with mlflow.start_run(experiment_id=experiment, run_name=f"{family.name}-{ctx.as_of:%Y%m%d}") as run:
        mlflow.log_params(
            {
                "as_of": f"{ctx.as_of:%Y-%m-%d}",
                "horizon_days": horizon_days,
                "eval_cutoff": f"{ctx.as_of - horizon:%Y-%m-%d}",
                "feature_service": family.feature_service,
                **{f"option_{k}": v for k, v in options.params().items()},
            }
        )
        results, model, data = _fit_and_evaluate(family, ctx, horizon, options)
        if family.refits(options):
            progress(f"{family.name}: refit on labels ending by {ctx.as_of:%Y-%m-%d}")
            data = family.dataset(ctx, Split(train_end=ctx.as_of, horizon=horizon), options)
            model = family.refit(ctx, data, options, model)
        else:
            progress(f"{family.name}: registering the evaluated fit itself (no refit)")
        packaged = family.package(ctx, model, data)
        mlflow.log_params({f"refit_{k}": v for k, v in (data.params | packaged.params).items()})
        refit = {f"refit_{k}": v for k, v in packaged.metrics.items()}
        seconds = time.perf_counter() - started
        mlflow.log_metrics(refit | {"train_seconds": seconds})
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=packaged.python_model,
            artifacts=packaged.artifacts or None,
            signature=packaged.signature,
            input_example=packaged.input_example,
            pip_requirements=pinned(family.requirements),
            registered_model_name=family.name,
            metadata={"as_of": f"{ctx.as_of:%Y-%m-%d}", "feature_service": family.feature_service} | packaged.metadata,
        )
        version = str(info.registered_model_version)
    results |= refit
    alias, lost = _register(client, family, version, ctx.as_of, horizon, results)
    log.info(
        "%s v%s (@%s): %s %.4f in %.0fs",
        name,
        version,
        alias,
        family.primary_metric,
        _primary(family, results),
        seconds,
    )
    return tracking.TrainResult(run.info.run_id, version, alias, results, seconds, lost)


def _primary(family: Family, results: dict[str, float]) -> float:
    return results.get(f"model_{family.primary_metric}", float("nan"))


def _register(
    client: Any, family: Family, version: str, as_of: pd.Timestamp, horizon: pd.Timedelta, results: dict[str, float]
) -> tuple[str, list[str]]:
    """Tag the version; first becomes champion unless it lost to a baseline (then challenger, with the reason)."""
    tags = {
        "eval_cutoff": f"{as_of - horizon:%Y-%m-%d}",
        "as_of": f"{as_of:%Y-%m-%d}",
        family.primary_metric: f"{_primary(family, results):.4f}",
    }
    losses = family.baseline_losses(results)
    if losses:
        tags[tracking.BASELINE_TAG] = "; ".join(losses)
        log.warning(
            "%s v%s lost to a baseline (%s): not promoted without --force",
            family.name,
            version,
            tags[tracking.BASELINE_TAG],
        )
        tracking.tag_version(client, family.name, version, **tags)
        client.set_registered_model_alias(family.name, tracking.CHALLENGER, version)
        return tracking.CHALLENGER, losses
    return tracking.tag_and_assign(client, family.name, version, tags), losses


def load(ws: Workspace, settings: Settings, name: str, alias: str = tracking.CHAMPION) -> tuple[Any, str]:
    """The registered pyfunc behind `alias` and its version."""
    client = tracking.connect(ws, settings)
    version = tracking.alias_version(client, families.entry(name).name, alias)
    if version is None:
        raise ValueError(missing_alias(client, families.entry(name).name, alias))
    return mlflow.pyfunc.load_model(client.get_model_version_download_uri(name, version)), version


def missing_alias(client: Any, name: str, alias: str) -> str:
    """Why no version of `name` is @alias and what to do instead, one line per fact (for the CLI's error)."""
    others = [(a, r) for r in tracking.list_versions(client, name) for a in r.aliases if a != alias]
    others.sort(key=lambda o: (o[0] != tracking.CHAMPION, o[0] != tracking.CHALLENGER))  # the one to suggest first
    if not others:
        return f"no {name} version is @{alias}: run `retail train {name}` first"
    lines = [f"no {name} version is @{alias}"]
    for other, row in others:
        lost = row.tags.get(tracking.BASELINE_TAG, "")
        why = ": it lost to a baseline on its evaluation" if lost else ""
        lines.append(f"version {row.version} is @{other}{why}")
        lines += [f"  {loss}" for loss in lost.split("; ") if loss]
    other, row = others[0]
    ways = [f"use it with `--alias {other}`"]
    if other == tracking.CHALLENGER and alias == tracking.CHAMPION:
        force = " --force" if row.tags.get(tracking.BASELINE_TAG) else ""
        ways.append(f"make it the champion with `retail models promote {name}{force}`")
    lines.append(", ".join(ways) + f", or train again with `retail train {name}`")
    return "\n".join(lines)


def predict(
    name: str,
    ws: Workspace,
    settings: Settings,
    as_of: pd.Timestamp | None = None,
    alias: str = tracking.CHAMPION,
    options: dict[str, Any] | None = None,
    progress: Callable[[str], None] = log.info,
) -> pd.DataFrame:
    """Batch scoring with the version behind `alias`, as of `as_of` (default: the features' date)."""
    family = families.family(name)
    model, version = load(ws, settings, name, alias)
    when = as_of if as_of is not None else ws.read_meta().get("features_as_of")
    if when is None:
        raise FileNotFoundError(f"{ws.root} has no features: run `retail features build` first")
    tx = ws.read_transactions(TX_COLUMNS)
    when = pd.Timestamp(when).floor("D")
    ctx = Context(ws, settings, when, tx[tx["ts"] < when].reset_index(drop=True), progress)
    return family.predict(ctx, model, version, options or {})
