"""Demand for planners: overrides over HTTP, exports with --products, accuracy, weekly store-level models."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from retail.cli import app
from retail.settings import Settings
from retail.workspace import Workspace
from training import run
from training.demand import dataset
from training.demand.options import DemandOptions

pytestmark = pytest.mark.integration
runner = CliRunner()


def _products(ws: Workspace, n: int) -> list[str]:
    end = pd.Timestamp(ws.read_meta()["data_end"])
    return dataset.recent_products(dataset.read_sales(ws, "product"), end)[:n]


def test_overrides_change_the_adjusted_values_and_revert_with_an_audit_trail(built, http: httpx.Client) -> None:
    product = _products(built.ws, 1)[0]
    points = http.get("/forecast", params={"product_id": product}).json()["points"]
    days = [p["ds"] for p in points]
    first = http.post(
        "/forecast/overrides",
        json={"product_id": product, "start": days[0], "end": days[2], "value": 40, "reason": "fair", "author": "ann"},
    )
    assert first.status_code == 201, first.text
    second = http.post(
        "/forecast/overrides",
        json={"product_id": product, "start": days[2], "end": days[3], "factor": 2, "reason": "ad", "author": "bob"},
    ).json()
    assert second["replaced_override_id"] == first.json()["id"]
    assert second["replaced_value"] == pytest.approx(40 + points[3]["p50"])
    adjusted = http.get("/forecast", params={"product_id": product, "horizon": 5}).json()["points"]
    assert [p["adjusted"] for p in adjusted[:4]] == pytest.approx([40, 40, 2 * points[2]["p50"], 2 * points[3]["p50"]])
    assert [p["p50"] for p in adjusted] == [p["p50"] for p in points[:5]], "model values stay beside the adjusted"

    reverted = http.delete(f"/forecast/overrides/{second['id']}", params={"author": "carol"})
    assert reverted.status_code == 200 and reverted.json()["reverted_by"] == "carol"
    assert [a["action"] for a in reverted.json()["audit"]] == ["created", "reverted"]
    key = {"id": reverted.json()["key"]["id"], "name": "integration tests"}  # the admin key the tests send
    assert reverted.json()["key"] == key and reverted.json()["reverted_key"] == key
    assert [a["key"] for a in reverted.json()["audit"]] == [key, key]
    assert http.delete(f"/forecast/overrides/{second['id']}", params={"author": "carol"}).status_code == 409
    back = http.get("/forecast", params={"product_id": product, "horizon": 4}).json()["points"]
    assert [p["adjusted"] for p in back] == pytest.approx([40, 40, 40, points[3]["p50"]])
    listed = http.get("/forecast/overrides", params={"product_id": product, "include_closed": True}).json()
    assert {o["id"] for o in listed} >= {first.json()["id"], second["id"]}
    http.delete(f"/forecast/overrides/{first.json()['id']}", params={"author": "ann"})

    assert http.get("/forecast", params={"product_id": "NO-SUCH"}).status_code == 404
    unknown = {"product_id": "NO-SUCH", "start": days[0], "end": days[0], "value": 1, "reason": "x", "author": "a"}
    assert http.post("/forecast/overrides", json=unknown).status_code == 404
    both = {
        "product_id": product,
        "start": days[0],
        "end": days[0],
        "value": 1,
        "factor": 2,
        "reason": "x",
        "author": "a",
    }
    assert http.post("/forecast/overrides", json=both).status_code == 422
    assert http.delete("/forecast/overrides/999999", params={"author": "a"}).status_code == 404


def test_an_edit_replaces_an_override_in_one_step_and_both_keep_their_audit_trail(built, http: httpx.Client) -> None:
    product = _products(built.ws, 3)[-1]  # not the product the test above adjusts
    points = http.get("/forecast", params={"product_id": product}).json()["points"]
    days = [p["ds"] for p in points]
    before = [p["adjusted"] for p in points]
    made = http.post(
        "/forecast/overrides",
        json={
            "product_id": product,
            "start": days[-4],
            "end": days[-3],
            "factor": 2,
            "reason": "fair",
            "author": "ann",
        },
    ).json()
    edit = {"start": days[-4], "end": days[-2], "value": 7.5, "reason": "fair runs a day longer", "author": "bob"}
    edited = http.put(f"/forecast/overrides/{made['id']}", json=edit)
    assert edited.status_code == 200, edited.text
    new = edited.json()
    assert new["id"] != made["id"] and new["product_id"] == product and new["value"] == 7.5
    assert new["replaced_override_id"] == made["id"]
    assert new["replaced_value"] == pytest.approx(2 * points[-4]["p50"] + 2 * points[-3]["p50"] + before[-2])
    assert new["audit"][0]["action"] == "created" and f'"edit_of": {made["id"]}' in new["audit"][0]["detail"]
    listed = {
        o["id"]: o
        for o in http.get("/forecast/overrides", params={"product_id": product, "include_closed": True}).json()
    }
    old = listed[made["id"]]
    assert old["reverted_by"] == "bob" and [a["action"] for a in old["audit"]] == ["created", "edited"]
    assert f'"into": {new["id"]}' in old["audit"][1]["detail"] and '"factor": 2.0' in old["audit"][1]["detail"]
    adjusted = [p["adjusted"] for p in http.get("/forecast", params={"product_id": product}).json()["points"]]
    assert adjusted[-4:-1] == pytest.approx([7.5, 7.5, 7.5]) and adjusted[-1] == pytest.approx(before[-1])

    assert http.put(f"/forecast/overrides/{made['id']}", json=edit).status_code == 409, "an edited one is closed"
    assert http.put("/forecast/overrides/999999", json=edit).status_code == 404
    assert http.put(f"/forecast/overrides/{new['id']}", json=edit | {"factor": 2}).status_code == 422
    http.delete(f"/forecast/overrides/{new['id']}", params={"author": "ann"})
    back = [p["adjusted"] for p in http.get("/forecast", params={"product_id": product}).json()["points"]]
    assert back == pytest.approx(before)


def test_export_for_chosen_products_is_stored_and_judged_for_accuracy(built, tmp_path: Path) -> None:
    ws = ["--workspace", str(built.ws.root)]
    products = _products(built.ws, 5)
    (tmp_path / "p.csv").write_text("product_id\n" + "\n".join(products) + "\n")
    as_of = pd.Timestamp(built.ws.read_meta()["data_end"]) - pd.Timedelta(days=14)
    out = tmp_path / "forecast.csv"
    args = ["predict", "demand", *ws, "--as-of", f"{as_of:%Y-%m-%d}", "--horizon-days", "14"]
    result = runner.invoke(app, [*args, "--products", str(tmp_path / "p.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype={"product_id": str})
    assert sorted(frame["product_id"].unique()) == sorted(products) and len(frame) == 5 * 14
    assert (frame["p10"] <= frame["p50"]).all() and (frame["p50"] <= frame["p90"]).all()
    revenue = pd.read_csv(tmp_path / "forecast.revenue_by_category_month.csv")
    assert revenue["revenue_p50"].sum() == pytest.approx(frame["revenue_p50"].sum())

    result = runner.invoke(
        app, ["forecast", "accuracy", *ws, "--since", f"{as_of:%Y-%m-%d}", "--out", str(tmp_path / "a.csv")]
    )
    assert result.exit_code == 0, result.output
    assert "model WAPE" in result.output
    by_product = pd.read_csv(tmp_path / "a.csv", dtype={"product_id": str})
    assert set(by_product["product_id"]) == set(products)
    client = mlflow.MlflowClient(f"sqlite:///{built.ws.mlruns / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("demand-accuracy")
    assert experiment is not None and client.search_runs([experiment.experiment_id])

    (tmp_path / "bad.csv").write_text("product_id\nNO-SUCH\n")
    result = runner.invoke(app, [*args, "--products", str(tmp_path / "bad.csv"), "--out", str(out)])
    assert result.exit_code == 1 and "NO-SUCH" in result.output


def test_weekly_store_level_model_sums_to_product_totals(built, copy_workspace, tmp_path: Path) -> None:
    root = copy_workspace(built.ws.root, tmp_path / "ws")
    ws, settings = Workspace.at(root), Settings(workspace=root)
    options = DemandOptions(freq="W", level="product_store", series=40, origins=1)
    result = run.train("demand", ws, settings, horizon_days=28, options=options)
    assert 0 <= result.metrics["model_coverage"] <= 1 and result.metrics["refit_series"] == 40
    per_category = {
        k.split("/")[1] for k in result.metrics if k.startswith("by_category/") and k.endswith("model_mase")
    }
    assert len(per_category) > 1, "WAPE, MASE, pinball and coverage are logged per category"
    stores = run.predict("demand", ws, settings, alias=result.alias, options={"level": "product_store"})
    products = run.predict("demand", ws, settings, alias=result.alias, options={"level": "product"})
    assert stores["ds"].nunique() == 4 and (stores["ds"].dt.dayofweek == stores["ds"].iloc[0].dayofweek).all()
    summed = stores.groupby(["product_id", "ds"])["p50"].sum()
    assert products.set_index(["product_id", "ds"])["p50"].to_numpy() == pytest.approx(summed.to_numpy())


def test_an_older_champion_is_rescored_on_the_challengers_held_out_days(built, copy_workspace, tmp_path: Path) -> None:
    from training import families, tracking

    root = copy_workspace(built.ws.root, tmp_path / "ws")
    ws, settings = Workspace.at(root), Settings(workspace=root)
    end = pd.Timestamp(ws.read_meta()["data_end"])
    options = DemandOptions(series=30, origins=1)
    older = run.train("demand", ws, settings, as_of=end - pd.Timedelta(days=56), horizon_days=28, options=options)
    newer = run.train("demand", ws, settings, as_of=end, horizon_days=28, options=options)
    table = families.family("demand").compare(tracking.connect(ws, settings), older.version, newer.version)
    assert list(table.index[:2]) == ["champion", "challenger"]
    assert table.loc["challenger", "wape"] == newer.metrics["model_wape"]
    champion = table.loc["champion"]
    assert 0 < champion["wape"] < 2 and 0 <= champion["coverage"] <= 1  # rescored from the logged history
    assert champion["wape"] != older.metrics["model_wape"], "judged on the challenger's days, not its own"


def test_forecast_reads_answer_while_another_connection_holds_the_write_lock(built, http: httpx.Client) -> None:
    """GET /forecast, /forecast/overrides and /forecast/accuracy read in read transactions: a CLI import (or any
    writer) holding SQLite's write lock does not make them queue for it (they waited out the 30 s busy timeout)."""
    product = _products(built.ws, 1)[0]
    since = pd.Timestamp(built.ws.read_meta()["data_end"]) - pd.Timedelta(days=14)
    holder = sqlite3.connect(built.ws.root / "data" / "app.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        forecast = http.get("/forecast", params={"product_id": product, "horizon": 3})
        listed = http.get("/forecast/overrides", params={"product_id": product})
        judged = http.get("/forecast/accuracy", params={"since": f"{since:%Y-%m-%d}"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert forecast.status_code == 200 and len(forecast.json()["points"]) == 3, forecast.text
    assert listed.status_code == 200, listed.text
    # 404 when no forecast is stored for those days yet (another test stores one): answered, not locked out
    assert judged.status_code in (200, 404) and "lock" not in judged.text, judged.text
