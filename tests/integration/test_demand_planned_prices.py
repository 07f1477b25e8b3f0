"""Plans through the CLI: `predict demand --future` (planned prices, marked, with the usual P50) and `forecast series
--future` (planned values of the history's covariates)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from retail.cli import app
from retail.workspace import Workspace
from training.demand import batch, dataset

pytestmark = pytest.mark.integration
runner = CliRunner()
DAY = pd.Timedelta(days=1)


def test_predict_demand_forecasts_with_the_planned_prices(built, copy_workspace, tmp_path: Path) -> None:
    root = copy_workspace(built.ws.root, tmp_path / "ws")  # predict stores its forecast: keep it off the shared one
    ws = Workspace.at(root)
    end = pd.Timestamp(ws.read_meta()["data_end"]).floor("D")
    sales = dataset.read_sales(ws, "product")
    products = dataset.recent_products(sales, end)[:3]
    (tmp_path / "p.csv").write_text("product_id\n" + "\n".join(products) + "\n")
    usual = batch.prices(ws, sales, end)
    days = [end + DAY * d for d in range(2, 9)]
    plan = pd.concat(
        [
            pd.DataFrame({"product_id": products[0], "ds": days, "price": 0.7 * usual[products[0]]}),
            pd.DataFrame({"product_id": products[1], "ds": days, "price": usual[products[1]]}),  # the usual price
        ]
    )
    plan.to_csv(tmp_path / "plan.csv", index=False, date_format="%Y-%m-%d")
    args = ["predict", "demand", "--workspace", str(root), "--horizon-days", "14"]
    args += ["--products", str(tmp_path / "p.csv")]

    plain = runner.invoke(app, [*args, "--out", str(tmp_path / "plain.csv")])
    assert plain.exit_code == 0, plain.output
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "planned.csv"), "--future", str(tmp_path / "plan.csv")])
    assert result.exit_code == 0, result.output

    usual_run = pd.read_csv(tmp_path / "plain.csv", dtype={"product_id": str}, parse_dates=["ds"])
    planned = pd.read_csv(tmp_path / "planned.csv", dtype={"product_id": str}, parse_dates=["ds"])
    marked = planned.loc[planned["planned"], ["product_id", "ds"]]
    assert set(marked["product_id"]) == {products[0]} and sorted(marked["ds"]) == days  # the usual price is no plan
    both = planned.merge(usual_run, on=["product_id", "ds"], suffixes=("", "_plain"))
    assert len(both) == 3 * 14
    assert both["p50_usual"].to_numpy() == pytest.approx(both["p50_plain"].to_numpy(), abs=1e-9)
    untouched = both[both["product_id"] != products[0]]
    assert untouched["p50"].to_numpy() == pytest.approx(untouched["p50_plain"].to_numpy(), abs=1e-9)

    (tmp_path / "promo.csv").write_text(f"product_id,ds,promo\n{products[0]},{days[0]:%Y-%m-%d},1\n")
    refused = runner.invoke(app, [*args, "--out", str(tmp_path / "x.csv"), "--future", str(tmp_path / "promo.csv")])
    assert refused.exit_code == 1
    assert "future column 'promo'" in refused.output and "price_ratio" in refused.output


def test_forecast_series_takes_a_future_file(tmp_path: Path) -> None:
    """A history with a promo flag and a note, a plan for the horizon: promoted days forecast higher; a plan with a
    column the history lacks is one line naming it."""
    rng = np.random.default_rng(3)
    days = pd.date_range("2025-01-01", periods=300)
    parts = []
    for i in range(4):
        promo = (rng.random(len(days)) < 0.2).astype(int)
        y = rng.poisson(20 * np.where(promo == 1, 1.5, 1.0))
        parts.append(pd.DataFrame({"unique_id": f"s{i}", "ds": days, "y": y, "promo": promo, "note": "x"}))
    frame = pd.concat(parts)
    cut = days[-14]
    frame[frame["ds"] < cut].to_csv(tmp_path / "h.csv", index=False, date_format="%Y-%m-%d")
    plan = frame.loc[frame["ds"] >= cut, ["unique_id", "ds"]].assign(promo=np.tile(np.arange(14) % 2, 4))
    plan.to_csv(tmp_path / "f.csv", index=False, date_format="%Y-%m-%d")
    args = ["forecast", "series", "--history", str(tmp_path / "h.csv"), "--horizon", "14", "--freq", "D"]

    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o.csv"), "--future", str(tmp_path / "f.csv")])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(tmp_path / "o.csv", parse_dates=["ds"]).merge(plan, on=["unique_id", "ds"])
    assert len(out) == 4 * 14
    means = out.groupby("promo")["p50"].mean()
    assert means[1] > 1.2 * means[0]

    plan.assign(display=1).to_csv(tmp_path / "bad.csv", index=False, date_format="%Y-%m-%d")
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "x.csv"), "--future", str(tmp_path / "bad.csv")])
    assert result.exit_code == 1
    assert "future column 'display'" in result.output and "Traceback" not in result.output
