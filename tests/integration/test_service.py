"""The BentoML service over HTTP (churn, models, health): `retail serve` on the shared workspace."""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd
import pytest
from http_checks import no_traceback

from training import families

pytestmark = pytest.mark.integration
# risk bands as the service documents them: low < 0.3 <= medium < 0.6 <= high
BANDS = (("high", 0.6), ("medium", 0.3), ("low", 0.0))


@pytest.fixture(scope="module")
def as_of(built) -> pd.Timestamp:
    return pd.Timestamp(built.ws.read_meta()["features_as_of"])


@pytest.fixture(scope="module")
def buyers(built, as_of: pd.Timestamp) -> list[str]:
    """Two customers who bought before the features' date, in an order that is not sorted."""
    tx = pd.read_parquet(built.ws.raw_table("transactions"), columns=["customer_id", "ts", "quantity"])
    ids = sorted(tx.loc[(tx["quantity"] > 0) & (tx["ts"] < as_of), "customer_id"].dropna().unique())
    return [ids[-1], ids[0]]


def _churn(http: httpx.Client, ids: list[str]) -> httpx.Response:
    return http.post("/churn", json={"customer_ids": ids})


def _band(p: float) -> str:
    return next(name for name, low in BANDS if p >= low)


def test_health_and_readiness(http: httpx.Client) -> None:
    assert http.get("/healthz").status_code == 200
    assert http.get("/livez").status_code == 200
    assert http.get("/readyz").status_code == 200


def test_models_lists_the_champion(http: httpx.Client, built) -> None:
    response = http.get("/models")
    assert response.status_code == 200
    churn = [m for m in response.json() if m["name"] == "churn"]
    assert len(churn) == 1
    assert churn[0]["version"] == built.version and churn[0]["alias"] == "champion"
    assert churn[0]["run_id"]


def test_reload_keeps_serving_the_champion(http: httpx.Client, built, buyers: list[str]) -> None:
    response = http.post("/models/reload")
    assert response.status_code == 200
    served = {m["name"]: m["version"] for m in response.json()}
    assert served["churn"] == built.version and set(served) == set(families.names())
    assert _churn(http, buyers).status_code == 200


def test_churn_scores_known_customers(http: httpx.Client, built, buyers: list[str], as_of: pd.Timestamp) -> None:
    response = _churn(http, buyers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == built.version
    assert body["features_as_of"] == f"{as_of:%Y-%m-%d}"
    assert [s["customer_id"] for s in body["scores"]] == buyers  # the order asked for
    for score in body["scores"]:
        assert 0.0 <= score["churn_probability"] <= 1.0
        assert score["risk_band"] == _band(score["churn_probability"])
    again = _churn(http, buyers).json()
    assert again["scores"] == body["scores"]
    reversed_ = _churn(http, buyers[::-1]).json()
    assert reversed_["scores"] == body["scores"][::-1]


def test_churn_scores_a_mixed_batch_and_says_why_for_the_rest(http: httpx.Client, built, buyers: list[str]) -> None:
    """A CRM's list with customers who never bought (in the customers table) and ids that are not customers."""
    from sqlalchemy.orm import Session

    from retail import db
    from serving.commerce.tables import Customer

    with Session(db.engine(built.ws, built.settings)) as s, s.begin():
        if s.get(Customer, "C-NEW-1") is None:
            s.add(Customer(customer_id="C-NEW-1", created_at=pd.Timestamp("2026-01-01").to_pydatetime()))
    response = _churn(http, [buyers[0], "C-NEW-1", "NOT-A-CUSTOMER", buyers[1]])
    assert response.status_code == 200, response.text  # was a 404 "unknown customer" for the whole batch
    body = response.json()
    assert [s["customer_id"] for s in body["scores"]] == buyers
    assert body["not_scored"] == [
        {"customer_id": "C-NEW-1", "status": "no_purchases"},
        {"customer_id": "NOT-A-CUSTOMER", "status": "unknown_customer"},
    ]


def test_churn_matches_offline_scoring(http: httpx.Client, built, buyers: list[str], as_of: pd.Timestamp) -> None:
    """Online features + served model give what the registered model gives on point-in-time features."""
    import mlflow.pyfunc

    from training import tracking
    from training.churn import dataset
    from training.churn.model import MODEL_INPUT

    tracking.connect(built.ws, built.settings)
    model = mlflow.pyfunc.load_model(f"models:/churn/{built.version}")
    feats = dataset.features_at(built.ws, pd.DataFrame({"customer_id": buyers, "cutoff": as_of}))
    offline = model.predict(feats[MODEL_INPUT].astype("float64"))["churn_probability"].tolist()
    served = [s["churn_probability"] for s in _churn(http, buyers).json()["scores"]]
    assert served == pytest.approx(offline, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        pytest.param({}, ["body", "customer_ids"], id="missing-customer_ids"),
        pytest.param({"customer_ids": []}, ["body", "customer_ids"], id="empty-list"),
        pytest.param({"customer_ids": "C00001"}, ["body", "customer_ids"], id="not-a-list"),
        pytest.param({"customer_ids": [1]}, ["body", "customer_ids", 0], id="not-a-string"),
        pytest.param({"customer_ids": ["C00001"], "extra": 1}, ["body", "extra"], id="extra-field"),
        pytest.param(b'{"customer_ids": [', ["body"], id="invalid-json"),
        pytest.param(b"W\xff}\xfe\x1f", ["body"], id="not-utf8"),
        pytest.param([], ["body"], id="not-an-object"),
    ],
)
def test_malformed_bodies_are_422_with_a_field_path(http: httpx.Client, body: Any, loc: list[Any]) -> None:
    if isinstance(body, bytes):
        response = http.post("/churn", content=body, headers={"content-type": "application/json"})
    else:
        response = http.post("/churn", json=body)
    assert response.status_code == 422, response.text
    no_traceback(response)
    detail = response.json()["detail"]
    assert detail and all(d["loc"][0] == "body" for d in detail)
    assert detail[0]["loc"][: len(loc)] == loc


def test_metrics_are_prometheus_text(http: httpx.Client, buyers: list[str]) -> None:
    assert _churn(http, buyers).status_code == 200
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE bentoml_service_request_total counter" in response.text
    assert 'endpoint="/churn"' in response.text


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        pytest.param({"texts": []}, ["body", "texts"], "at least 1", id="empty-list"),
        pytest.param({"texts": ["fine", ""]}, ["body", "texts", 1], "at least 1 character", id="empty-text"),
        pytest.param({"texts": ["fine", "   "]}, ["body", "texts"], "[1] are blank", id="blank-text"),
        pytest.param({"texts": ["fine", 3]}, ["body", "texts", 1], "valid string", id="not-a-string"),
        pytest.param({"texts": ["x"] * 65}, ["body", "texts"], "at most 64", id="too-many"),
        pytest.param({"texts": ["x" * 5001]}, ["body", "texts", 0], "at most 5000", id="too-long"),
        pytest.param({"text": "fine"}, ["body", "texts"], "required", id="wrong-field"),
    ],
)
def test_sentiment_bad_bodies_are_422_naming_the_text(
    http: httpx.Client, body: Any, loc: list[Any], words: str
) -> None:
    response = http.post("/sentiment", json=body)
    assert response.status_code == 422, response.text
    no_traceback(response)
    detail = response.json()["detail"]
    assert detail[0]["loc"][: len(loc)] == loc and words in detail[0]["msg"], detail


def test_sentiment_labels_scores_and_says_when_it_cut_a_text(http: httpx.Client) -> None:
    long_review = "The fabric is soft and the colour is lovely. " * 60  # far past the token budget
    body = http.post("/sentiment", json={"texts": ["Love it, great value.", long_review]}).json()
    short, cut = body["results"]
    assert body["max_tokens"] >= 8 and body["model_version"]
    assert not short["truncated"] and cut["truncated"]
    assert all(r["label"] in {"positive", "negative"} and 0 <= r["score"] <= 1 for r in body["results"])
    assert all((r["label"] == "positive") == (r["score"] >= 0.5) for r in body["results"])


def test_concurrent_sentiment_requests_are_answered_in_their_own_order(http: httpx.Client, built) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def scored(batch: list[str]) -> list[dict]:
        response = http.post("/sentiment", json={"texts": batch})
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()["results"]

    texts = built.ws.read_raw("reviews")["text"].iloc[:40].tolist()
    alone = scored(texts)
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda t: scored([t])[0], texts))
    # scores agree closely (int8 activations are scaled per batch, and batches mix requests), so labels do too
    assert max(abs(a["score"] - b["score"]) for a, b in zip(answers, alone, strict=True)) < 0.05
    clear = [i for i, b in enumerate(alone) if abs(b["score"] - 0.5) > 0.05]
    assert [answers[i]["label"] for i in clear] == [alone[i]["label"] for i in clear]
