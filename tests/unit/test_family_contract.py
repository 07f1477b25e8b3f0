"""The family contract's fast tier: every registered family trains, registers, predicts and answers through its
adapter on a tiny simulated workspace, in seconds (the way `implicit` runs one test mixin over every model).

Each test runs once per name in `training.families.names()` on the session's `tiny_workspace` (conftest.py), and
goes through the public seam only: `training.run`, `training.tracking`, `training.promotion`, `Family.predict`
(as `retail predict` does) and `Family.adapter` (as the endpoints do). What differs between families (the batch's
columns, how an endpoint asks its adapter) is one `Contract` per family in `CONTRACTS`;
`test_every_family_has_a_contract` fails until a new family adds its own. The HTTP half (the served answer equals
the registered model's, promotion and rollback) is tests/integration/test_family_contract_http.py.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from batch_columns import BATCH_COLUMNS
from planted import TinyWorkspace

from features import store as feature_store
from training import families, promotion, run, tracking

UNKNOWN = "NO-SUCH-ID"


@dataclass(frozen=True)
class Contract:
    """What a family's batch looks like and how its endpoint asks its adapter."""

    batch_columns: list[str]
    scores: list[str]  # batch columns that are numbers, never missing
    source: str  # the raw table whose rows the batch's first column (its entity) names
    key: list[str]  # the columns that name a batch row: each combination once
    ask: Callable[[Any, TinyWorkspace], None]  # a known id is answered, an unknown one refused or flagged
    probabilities: tuple[str, ...] = ()  # score columns within [0, 1]
    every_row: bool = False  # one batch row per row of `source`, in its order


def _adapter_module(name: str) -> Any:
    """The family's adapter module: what its endpoint imports (modes, bands, errors) besides the adapter."""
    return importlib.import_module(f"{families.entry(name).package}.adapter")


def _customers(tiny: TinyWorkspace) -> list[str]:
    return sorted(tiny.ws.read_transactions(["customer_id"])["customer_id"].dropna().unique())


def _ask_churn(adapter: Any, tiny: TinyWorkspace) -> None:
    """POST /churn: online features for the ids, scores for those with features, the others named with why."""
    known = _customers(tiny)[:3]
    store = feature_store.feature_store(tiny.ws)
    frame = feature_store.online_features(store, adapter.feature_service, "customer_id", [*known, UNKNOWN])
    scored, missing = adapter.score_known(frame)
    assert scored["customer_id"].tolist() == known and missing == [UNKNOWN]
    assert scored["churn_probability"].between(0, 1).all()
    assert set(scored["risk_band"]) <= {"low", "medium", "high"}
    assert (scored["recency_days"] >= 0).all()
    assert _adapter_module("churn").why_unscored(missing, set(known)) == {UNKNOWN: "unknown_customer"}


def _ask_recommender(adapter: Any, tiny: TinyWorkspace) -> None:
    """POST /recommend: a known customer's top k with reasons; an unknown one falls back; an unknown cart is 422."""
    customer = next(c for c in _customers(tiny) if adapter.knows(c))
    store = feature_store.feature_store(tiny.ws)
    names = list(adapter.feature_names)
    service = store.get_feature_service(adapter.feature_service)
    features = dict(zip(names, feature_store.online_row(store, service, "customer_id", customer, names), strict=True))
    answer = adapter.recommend(customer, [], "all", 5, None, features)
    products = [item["product_id"] for item in answer.items]
    scores = [item["score"] for item in answer.items]
    assert answer.customer_known and len(products) == 5 == len(set(products))
    assert set(products) <= set(adapter.product_ids) and all(item["reason"] for item in answer.items)
    assert all(math.isfinite(s) for s in scores) and scores == sorted(scores, reverse=True)

    assert not adapter.knows(UNKNOWN)
    stranger = adapter.recommend(UNKNOWN, [], "all", 5, None)
    assert not stranger.customer_known and stranger.note and len(stranger.items) == 5
    with pytest.raises(_adapter_module("recommender").UnknownProducts) as refused:
        adapter.recommend(customer, [UNKNOWN], "all", 5, None, features)
    assert refused.value.product_ids == [UNKNOWN]


def _ask_demand(adapter: Any, tiny: TinyWorkspace) -> None:
    """GET /forecast: a forecast product's next days with ordered quantiles; an unknown product is 404."""
    product = sorted(adapter.products())[0]
    assert adapter.known(product, "")
    rows = adapter.series(product, "", 7)
    assert len(rows) == 7 and rows["ds"].is_monotonic_increasing
    quantiles = rows[["p10", "p50", "p90", "adjusted", "revenue_p50"]]
    assert quantiles.notna().all().all() and (quantiles >= 0).all().all()
    assert (rows["p10"] <= rows["p50"]).all() and (rows["p50"] <= rows["p90"]).all()
    assert not adapter.known(UNKNOWN, "") and adapter.current(UNKNOWN, "") is None


def _ask_sentiment(adapter: Any, tiny: TinyWorkspace) -> None:
    """POST /sentiment: a label and score per text, in order; a text longer than the model reads is flagged."""
    long = " ".join(["lovely soft fabric and a perfect fit"] * 40)
    results = adapter.score(["Love it, wonderful quality!", long])
    assert [r["truncated"] for r in results] == [False, True]
    assert all(r["label"] in {"positive", "negative"} and 0 <= r["score"] <= 1 for r in results)
    assert adapter.score([]) == []


CONTRACTS: dict[str, Contract] = {
    "churn": Contract(
        BATCH_COLUMNS["churn"],
        ["churn_probability"],
        "transactions",
        ["customer_id"],
        _ask_churn,
        probabilities=("churn_probability",),
    ),
    "recommender": Contract(
        BATCH_COLUMNS["recommender"],
        ["rank", "score"],
        "transactions",
        ["customer_id", "rank"],
        _ask_recommender,
    ),
    "demand": Contract(
        BATCH_COLUMNS["demand"],
        ["p10", "p50", "p90", "adjusted", "revenue_p50"],
        "transactions",
        ["product_id", "ds"],
        _ask_demand,
    ),
    "sentiment": Contract(
        BATCH_COLUMNS["sentiment"],
        ["score"],
        "reviews",
        ["review_id"],
        _ask_sentiment,
        probabilities=("score",),
        every_row=True,
    ),
}


def test_every_family_has_a_contract() -> None:
    assert set(CONTRACTS) == set(families.names())


@pytest.fixture(params=families.names())
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_trained_and_registered_with_its_primary_metric(tiny_workspace: TinyWorkspace, name: str) -> None:
    family, result = families.family(name), tiny_workspace.trained[name]
    client = tracking.connect(tiny_workspace.ws, tiny_workspace.settings)
    version = client.get_model_version(name, result.version)
    assert version.run_id == result.run_id
    logged = client.get_run(result.run_id).data
    primary = logged.metrics[f"model_{family.primary_metric}"]
    assert math.isfinite(primary) and version.tags[family.primary_metric] == f"{primary:.4f}"
    assert logged.params["feature_service"] == family.feature_service
    for ours, theirs, _ in family.guards:
        assert ours in logged.metrics and theirs in logged.metrics
    assert bool(result.lost) == (tracking.BASELINE_TAG in version.tags)


def test_the_champion_alias_can_be_set(tiny_workspace: TinyWorkspace, name: str) -> None:
    """A first version becomes champion; one that trailed a baseline only with force, as `models promote` says."""
    result = tiny_workspace.trained[name]
    client = tracking.connect(tiny_workspace.ws, tiny_workspace.settings)
    if result.alias != tracking.CHAMPION:
        assert result.alias == tracking.CHALLENGER and result.lost
        refused = promotion.promote(client, name)
        assert not refused.promoted and "lost to a baseline" in refused.reason
        assert promotion.promote(client, name, force=True).champion == result.version
    assert tracking.alias_version(client, name, tracking.CHAMPION) == result.version


@pytest.fixture
def champion(tiny_workspace: TinyWorkspace, name: str) -> str:
    """The family's tiny version, @champion (forced where it trailed a baseline), as the service loads it."""
    client = tracking.connect(tiny_workspace.ws, tiny_workspace.settings)
    version = tiny_workspace.trained[name].version
    if tracking.alias_version(client, name, tracking.CHAMPION) != version:
        client.set_registered_model_alias(name, tracking.CHAMPION, version)
    return version


def test_batch_predictions(tiny_workspace: TinyWorkspace, name: str, champion: str) -> None:
    contract = CONTRACTS[name]
    frame = run.predict(name, tiny_workspace.ws, tiny_workspace.settings)
    assert list(frame.columns) == contract.batch_columns and len(frame) > 0
    scores = frame[contract.scores]
    assert scores.notna().all().all() and np.isfinite(scores.to_numpy(dtype="float64")).all()
    key = contract.batch_columns[0]
    source = tiny_workspace.ws.read_raw(contract.source)
    assert source is not None and set(frame[key]) <= set(source[key].dropna())
    assert not frame.duplicated(contract.key).any()
    assert all(frame[column].between(0, 1).all() for column in contract.probabilities)
    if contract.every_row:
        assert frame[key].tolist() == source[key].tolist()


def test_the_adapter_answers_as_the_endpoint_asks(tiny_workspace: TinyWorkspace, name: str, champion: str) -> None:
    model, version = run.load(tiny_workspace.ws, tiny_workspace.settings, name)
    assert version == champion
    adapter = families.family(name).adapter(model, version, tiny_workspace.ws)
    assert adapter.version == version
    CONTRACTS[name].ask(adapter, tiny_workspace)
