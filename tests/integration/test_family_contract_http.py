"""The contract every model family passes, one mixin for all (the way `implicit` tests each of its models).

A family is registered by the runner with both fits' figures, compares, promotes and rolls back through the
shared registry code, scores in batch, and its endpoint answers what the registered model answers offline.
Adding a family means adding a subclass here; `test_every_family_has_a_contract_class` fails until then.
This is the slow half, on the shared simulated workspace and through HTTP; the fast half,
tests/unit/test_family_contract.py, trains every family on a tiny workspace and asks its adapter directly.
"""

from __future__ import annotations

import shutil
from typing import Any, ClassVar

import httpx
import mlflow.pyfunc
import pandas as pd
import pytest
from batch_columns import BATCH_COLUMNS
from sqlalchemy import select
from sqlalchemy.orm import Session

from retail import db
from retail.settings import Settings
from retail.workspace import Workspace
from serving.commerce.stock import Stock
from serving.commerce.tables import Feedback, Order
from training import compare, families, promotion, run, tracking

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry_copy(built, tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Settings]:
    """A copy of the shared workspace whose registry the promotion tests may change."""
    root = tmp_path_factory.mktemp("contract") / "ws"
    shutil.copytree(built.ws.root, root)
    return Workspace.at(root), Settings(workspace=root)


def _champion_model(built, name: str) -> tuple[Any, str]:
    return run.load(built.ws, built.settings, name)


class FamilyContract:
    """What every family must do; subclasses name the family and say how to ask it one question two ways."""

    name: ClassVar[str]
    batch_columns: ClassVar[list[str]]

    def served_and_offline(self, built, http: httpx.Client) -> tuple[Any, Any]:
        """The endpoint's answer and the registered pyfunc's answer to the same question."""
        raise AssertionError("each family's contract class says how its endpoint is asked")

    def test_registered_with_both_fits_figures(self, built) -> None:
        family = families.family(self.name)
        client = tracking.connect(built.ws, built.settings)
        version = tracking.alias_version(client, self.name, tracking.CHAMPION)
        assert version is not None
        logged = compare.run_of(client, self.name, version).data
        as_of, horizon = pd.Timestamp(logged.params["as_of"]), int(logged.params["horizon_days"])
        assert pd.Timestamp(logged.params["eval_cutoff"]) == as_of - pd.Timedelta(days=horizon)
        assert logged.params["feature_service"] == family.feature_service
        assert f"model_{family.primary_metric}" in logged.metrics
        assert any(k.startswith("refit_") for k in logged.metrics), "the refit's own figures are logged"
        for ours, theirs, _ in family.guards:
            assert ours in logged.metrics and theirs in logged.metrics
        assert not compare.evaluation_set(client, self.name, version).empty
        requirements = mlflow.pyfunc.get_model_dependencies(client.get_model_version_download_uri(self.name, version))
        pins = {line.split("==")[0] for line in open(requirements).read().split() if "==" in line}
        assert set(family.requirements) <= pins, "pip requirements come pinned from requirements.lock"

    def test_champion_compared_with_itself_ties_with_its_logged_figures(self, built) -> None:
        family = families.family(self.name)
        client = tracking.connect(built.ws, built.settings)
        version = str(tracking.alias_version(client, self.name, tracking.CHAMPION))
        table = family.compare(client, version, version)
        assert list(table.index[:2]) == ["champion", "challenger"] and len(table) > 2  # baselines follow
        logged = compare.run_of(client, self.name, version).data.metrics
        assert table.loc["challenger", family.primary_metric] == logged[f"model_{family.primary_metric}"]
        assert table.loc["champion", family.primary_metric] == table.loc["challenger", family.primary_metric]

    def test_promotion_guard_and_rollback(self, registry_copy: tuple[Workspace, Settings]) -> None:
        ws, settings = registry_copy
        client = tracking.connect(ws, settings)
        champion = str(tracking.alias_version(client, self.name, tracking.CHAMPION))
        source = client.get_model_version(self.name, champion)
        new = str(client.create_model_version(self.name, source.source, run_id=source.run_id).version)
        client.set_registered_model_alias(self.name, tracking.CHALLENGER, new)

        tracking.tag_version(client, self.name, new, **{tracking.BASELINE_TAG: "recall below popularity"})
        refused = promotion.promote(client, self.name)
        assert not refused.promoted and "lost to a baseline" in refused.reason
        assert tracking.alias_version(client, self.name, tracking.CHAMPION) == champion

        client.delete_model_version_tag(self.name, new, tracking.BASELINE_TAG)
        tie = promotion.promote(client, self.name)  # the same run's figures: no better, so kept
        assert not tie.promoted and tie.champion_score == tie.challenger_score

        assert promotion.promote(client, self.name, force=True).champion == new
        back = promotion.rollback(client, self.name)
        assert back.champion == champion == tracking.alias_version(client, self.name, tracking.CHAMPION)
        assert client.get_model_version(self.name, new).tags["rolled_back"].startswith(f"replaced by v{champion}")

    def test_batch_predictions(self, built) -> None:
        frame = run.predict(self.name, built.ws, built.settings)
        assert list(frame.columns) == self.batch_columns and len(frame) > 0
        key = self.batch_columns[0]  # the entity each row is about
        assert set(frame[key]) <= set(built.ws.read_transactions([key])[key].dropna())

    def test_served_answer_equals_offline(self, built, http: httpx.Client) -> None:
        served, offline = self.served_and_offline(built, http)
        assert served == offline


class TestChurnContract(FamilyContract):
    name = "churn"
    batch_columns = BATCH_COLUMNS["churn"]

    def served_and_offline(self, built, http: httpx.Client) -> tuple[Any, Any]:
        from training.churn import dataset

        as_of = pd.Timestamp(built.ws.read_meta()["features_as_of"])
        # customers no order or feedback of the API has touched: those push fresh online features (the contract
        # tests place and pay orders), which the offline features as of the build do not have
        with Session(db.engine(built.ws, built.settings)) as s:
            touched = set(s.scalars(select(Order.customer_id))) | set(s.scalars(select(Feedback.customer_id)))
        known = dataset.known_customers(built.ws.read_transactions(), as_of)
        ids = [c for c in known if c not in touched][:25]
        assert len(ids) == 25
        body = http.post("/churn", json={"customer_ids": ids}).json()
        served = [(s["customer_id"], round(s["churn_probability"], 6), s["drivers"]) for s in body["scores"]]
        model, _ = _champion_model(built, self.name)
        feats = dataset.features_at(built.ws, pd.DataFrame({"customer_id": ids, "cutoff": as_of}))
        # the service scores at the newest purchase it has seen (an order placed today by an earlier test moves it
        # forward for every customer): the offline rows are scored at the same reference day
        reference = pd.Timestamp(body["features_as_of"])
        assert reference >= as_of
        feats["as_of_day"] = (reference - dataset.EPOCH) / pd.Timedelta(days=1)
        columns = list(model.metadata.get_input_schema().input_names())
        out = model.predict(feats[columns].astype("float64"))
        offline = [
            (c, round(float(p), 6), list(d))
            for c, p, d in zip(ids, out["churn_probability"], out["drivers"], strict=True)
        ]
        return served, offline


class TestRecommenderContract(FamilyContract):
    name = "recommender"
    batch_columns = BATCH_COLUMNS["recommender"]

    def served_and_offline(self, built, http: httpx.Client) -> tuple[Any, Any]:
        model, version = _champion_model(built, self.name)
        customers = built.ws.read_transactions()["customer_id"].dropna().drop_duplicates().sort_values()
        ids = list(customers.iloc[::97][:6])
        served = []
        for customer in ids:
            body = http.post("/recommend", json={"customer_id": customer, "k": 5}).json()
            served.append([(i["product_id"], round(i["score"], 5), i["reason"]) for i in body["items"]])
        ask = pd.DataFrame({"customer_id": ids, "cart": [[] for _ in ids], "mode": "all", "k": 60})
        out = model.predict(ask)
        products = list(model.unwrap_python_model().recommender.product_ids)
        mask = Stock(built.ws).available(None, products, version)
        in_stock = set(products) if mask is None else {p for p, ok in zip(products, mask, strict=True) if ok}
        offline = [
            [
                (p, round(s, 5), r)
                for p, s, r in zip(row.product_ids, row.scores, row.reasons, strict=True)
                if p in in_stock
            ][:5]
            for row in out.itertuples()
        ]
        return served, offline


class TestDemandContract(FamilyContract):
    name = "demand"
    batch_columns = BATCH_COLUMNS["demand"]

    def served_and_offline(self, built, http: httpx.Client) -> tuple[Any, Any]:
        from training.demand import dataset as series
        from training.demand.pyfunc import INPUT

        model, _ = _champion_model(built, self.name)
        end = pd.Timestamp(built.ws.read_meta()["data_end"])
        sales = series.read_sales(built.ws, "product")
        ids = series.recent_products(sales, end)[:4]
        served = []
        for product in ids:
            body = http.get("/forecast", params={"product_id": product, "horizon": 7}).json()
            served.append(
                [(p["ds"], round(p["p10"], 5), round(p["p50"], 5), round(p["p90"], 5)) for p in body["points"]]
            )
        history = series.frame(sales, series.read_attributes(built.ws), end, "D", ids)
        out = model.predict(history[INPUT], params={"horizon": 7})
        offline = [
            [(f"{r.ds:%Y-%m-%d}", round(r.p10, 5), round(r.p50, 5), round(r.p90, 5)) for r in rows.itertuples()]
            for _, rows in out.groupby("unique_id", sort=False)
        ]
        order = list(out["unique_id"].drop_duplicates())
        return served, [offline[order.index(p)] for p in ids]


class TestSentimentContract(FamilyContract):
    name = "sentiment"
    batch_columns = BATCH_COLUMNS["sentiment"]

    def test_batch_predictions(self, built) -> None:  # rows are reviews, not customers
        frame = run.predict(self.name, built.ws, built.settings)
        assert list(frame.columns) == self.batch_columns
        assert frame["review_id"].tolist() == built.ws.read_raw("reviews")["review_id"].tolist()
        assert frame["score"].between(0, 1).all() and set(frame["label"]) <= {"positive", "negative"}

    def served_and_offline(self, built, http: httpx.Client) -> tuple[Any, Any]:
        texts = built.ws.read_raw("reviews")["text"].iloc[::50].tolist()[:12] + ["Broke on day one.", "Love it!"]
        body = http.post("/sentiment", json={"texts": texts}).json()
        served = [(r["label"], round(r["score"], 5)) for r in body["results"]]
        model, _ = _champion_model(built, self.name)
        out = model.predict(pd.DataFrame({"text": texts}))
        return served, [(label, round(float(s), 5)) for label, s in zip(out["label"], out["score"], strict=True)]


def test_every_family_has_a_contract_class() -> None:
    assert {c.name for c in FamilyContract.__subclasses__()} == set(families.names())
