"""`retail predict demand --future`: a planner's planned prices reach the forecast, marked, with the usual P50."""

from __future__ import annotations

from pathlib import Path

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
