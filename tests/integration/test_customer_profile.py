"""Feedback, the customer 360 profile and offers on the running Bento, with every champion loaded."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest
from http_checks import no_traceback

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def buyer(built) -> str:
    """A customer who bought before the features' date (so the feature store and the models know them)."""
    as_of = pd.Timestamp(built.ws.read_meta()["features_as_of"])
    tx = pd.read_parquet(built.ws.raw_table("transactions"), columns=["customer_id", "ts", "quantity"])
    return str(sorted(tx.loc[(tx["quantity"] > 0) & (tx["ts"] < as_of), "customer_id"].dropna().unique())[0])


def test_feedback_is_scored_and_the_profile_has_every_model_section(http: httpx.Client, buyer: str) -> None:
    left = http.post("/v1/feedback", json={"customer_id": buyer, "text": "The zip broke after a week.", "rating": 1})
    assert left.status_code == 201, left.text
    scored = left.json()
    assert scored["label"] in ("positive", "negative") and 0 <= scored["score"] <= 1 and scored["model_version"]
    answer = http.get(f"/v1/customers/{buyer}/profile")
    no_traceback(answer)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["customer"]["customer_id"] == buyer
    churn = body["churn"]
    assert churn is not None, body["notes"]
    assert 0 <= churn["probability"] <= 1 and churn["band"] in ("low", "medium", "high") and churn["drivers"]
    recs = body["recommendations"]
    assert recs is not None and recs["items"], body["notes"]
    assert all(item["reason"] and item["kind"] in ("cross_sell", "up_sell") for item in recs["items"])
    assert body["feedback"][0]["id"] == scored["id"] and body["feedback"][0]["label"] == scored["label"]
    assert not [n for n in body["notes"] if n.startswith(("churn", "recommendations:", "feedback"))]
    offers = http.get(f"/v1/customers/{buyer}/offers")
    assert offers.status_code == 200 and offers.json()["offers"]["items"], offers.text
    listed = http.get("/v1/feedback", params={"customer_id": buyer, "sort": "priority"})
    assert listed.status_code == 200 and listed.json()[0]["id"] == scored["id"]
