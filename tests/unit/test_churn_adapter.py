"""The churn adapter: recency is counted to the newest purchase the feature store has seen, and answers are shaped."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from features.catalog import CUSTOMER_FEATURES
from retail.workspace import Workspace
from training.churn.adapter import ChurnAdapter, newest_event_day, risk_band, why_unscored
from training.churn.model import MODEL_INPUT


class Recency:
    """A stand-in pyfunc whose probability is the recency it is given (days / 100), so the reference shows."""

    metadata = SimpleNamespace(get_input_schema=lambda: SimpleNamespace(input_names=lambda: MODEL_INPUT))

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        recency = frame["as_of_day"] - frame["last_purchase_day"]
        return pd.DataFrame(
            {"churn_probability": recency / 100, "drivers": [[f"no order for {r:.0f} days"] for r in recency]}
        )


def _rows(last_days: list[float]) -> pd.DataFrame:
    frame = pd.DataFrame({name: np.ones(len(last_days)) for name in CUSTOMER_FEATURES})
    frame["last_purchase_day"] = last_days
    return frame.assign(customer_id=[f"C{i}" for i in range(len(last_days))])


def test_reference_day_moves_forward_with_fresher_online_rows() -> None:
    adapter = ChurnAdapter(Recency(), "1", reference_day=100.0)
    first = adapter.score_online(_rows([60.0, 90.0]))
    assert first["churn_probability"].tolist() == pytest.approx([0.40, 0.10])
    # a row pushed later shows a purchase on day 120: recency is counted to the day after it, for everyone
    second = adapter.score_online(_rows([60.0, 120.0]))
    assert second["churn_probability"].tolist() == pytest.approx([0.61, 0.01])
    assert adapter.reference_date == pd.Timestamp("1970-01-01") + pd.Timedelta(days=121)
    # and never moves back when older rows come
    assert adapter.score_online(_rows([60.0]))["churn_probability"].tolist() == pytest.approx([0.61])


def test_answers_carry_bands_and_drivers_columns() -> None:
    scored = ChurnAdapter(Recency(), "1", reference_day=100.0).score_online(_rows([99.0, 60.0, 30.0]))
    columns = ["customer_id", "churn_probability", "risk_band", "driver_1", "driver_2", "driver_3", "recency_days"]
    assert list(scored.columns) == columns
    assert scored["risk_band"].tolist() == ["low", "medium", "high"]
    assert scored["recency_days"].tolist() == [0.0, 39.0, 69.0]  # to the newest purchase day seen (99)
    assert scored["driver_1"].tolist() == ["no order for 1 days", "no order for 40 days", "no order for 70 days"]
    assert (scored["driver_2"] == "").all()


def test_unknown_customers_are_rows_without_features() -> None:
    frame = _rows([10.0, 20.0])
    frame.loc[1, list(CUSTOMER_FEATURES)] = np.nan
    assert ChurnAdapter(Recency(), "1", 0.0).known(frame).tolist() == [True, False]


def test_a_batch_scores_the_customers_with_features_and_names_the_others() -> None:
    frame = _rows([90.0, 10.0, 60.0, 10.0, 10.0]).assign(customer_id=["C1", "NEW", "C2", "NOPE", "NEW"])
    frame.loc[frame["customer_id"].isin(["NEW", "NOPE"]), list(CUSTOMER_FEATURES)] = np.nan
    scored, missing = ChurnAdapter(Recency(), "1", reference_day=100.0).score_known(frame)
    assert scored["customer_id"].tolist() == ["C1", "C2"]
    assert scored["churn_probability"].tolist() == pytest.approx([0.10, 0.40])
    assert missing == ["NEW", "NOPE"]  # each once, in the order asked
    assert why_unscored(missing, {"C1", "C2", "NEW"}) == {"NEW": "no_purchases", "NOPE": "unknown_customer"}


def test_a_batch_without_features_asks_the_model_nothing() -> None:
    class Refuses(Recency):
        def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
            raise AssertionError("the model was asked about no rows")

    frame = _rows([10.0]).assign(customer_id=["NEW"])
    frame[list(CUSTOMER_FEATURES)] = np.nan
    scored, missing = ChurnAdapter(Refuses(), "1", reference_day=100.0).score_known(frame)
    assert scored.empty and "churn_probability" in scored and missing == ["NEW"]


def test_bands_edges() -> None:
    assert [risk_band(p) for p in (0.0, 0.299, 0.3, 0.599, 0.6, 1.0)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
    ]


def test_newest_event_day_is_the_day_after_the_newest_purchase(tmp_path) -> None:
    ws = Workspace.at(tmp_path)
    assert newest_event_day(ws) == 0.0
    ws.features_dir.mkdir(parents=True)
    pd.DataFrame({"last_purchase_day": [10.0, np.nan, 42.0]}).to_parquet(ws.features_dir / "customer_features.parquet")
    assert newest_event_day(ws) == 43.0
