"""`retail campaign build` (imports stay light: the work is imported when run)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from retail.cliopts import DateOpt, OutOpt, WorkspaceOpt, command
from retail.cliopts import workspace as _workspace
from retail.files import check_suffix, write_frame
from serving.commerce.discounts import load_policy

campaign_app = typer.Typer(help="Campaign files for marketing.", no_args_is_help=True)
app = typer.Typer(help="The campaign batch job's commands.")  # what `retail` adds: its groups
app.add_typer(campaign_app, name="campaign")


def check_out(out: Path) -> None:
    """Refuse an --out that cannot be written before any slow work (a wrong suffix, a folder, no folder to write in)."""
    check_suffix(out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder: name a file")
    parent = next((p for p in (out.parent, *out.parent.parents) if p.exists()), Path("."))
    if not parent.is_dir():
        raise ValueError(f"--out {out}: cannot write in {parent}, it is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: cannot write in {parent} (permission denied)")


@campaign_app.command("build")
@command
def build(
    out: OutOpt,
    workspace_dir: WorkspaceOpt = Path("."),
    as_of: DateOpt = None,
    policy: Annotated[
        Path | None, typer.Option(help="Discount policy, YAML or JSON (default: the documented defaults).")
    ] = None,
    workers: Annotated[int, typer.Option(min=0, help="Offer worker processes; 0 = one per core.")] = 0,
) -> None:
    """Every customer known before --as-of (default: the features' date): churn probability and band, lifetime
    value, loyalty tier, next-best offer in stock online, discount and its expected value."""
    # deliberately lazy: the job and its heavy libraries load when the command runs, not for `retail --help`
    from campaign.build import build_campaign

    check_out(out)
    rules = load_policy(policy)
    ws, settings = _workspace(workspace_dir)
    start = time.perf_counter()
    when = pd.Timestamp(as_of) if as_of is not None else None
    campaign = build_campaign(ws, settings, when, rules, workers or None)
    write_frame(campaign.frame, out)
    seconds = time.perf_counter() - start
    f = campaign.frame
    bands = f["risk_band"].value_counts()
    typer.echo(
        f"wrote {len(f):,} customers as of {campaign.as_of:%Y-%m-%d} to {out} in {seconds:.1f}s "
        f"({len(f) / seconds * 60:,.0f} a minute; churn v{campaign.versions['churn']}, "
        f"recommender v{campaign.versions['recommender']})"
    )
    typer.echo(
        "risk: "
        + ", ".join(f"{b} {bands.get(b, 0):,}" for b in ("high", "medium", "low"))
        + f"; discounts: {int((f['discount_pct'] > 0).sum()):,}, expected value {f['expected_value'].sum():,.2f}"
    )
