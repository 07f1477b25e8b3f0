"""Rolled-up review sentiment: windows, negative share and point-in-time rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.catalog import SENTIMENT_FEATURES
from features.sentiment import rolled_up


def _at(table: pd.DataFrame, key: str, when: str) -> pd.Series:
    """What a point-in-time join at `when` sees: the newest row at or before it."""
    rows = table[(table["customer_id"] == key) & (table["event_timestamp"] <= pd.Timestamp(when))]
    return rows.iloc[-1]


@pytest.fixture
def table() -> pd.DataFrame:
    scores = pd.DataFrame(
        {
            "customer_id": ["A", "A", "A", "B"],
            "ts": pd.to_datetime(["2026-01-01 10:00", "2026-03-01 09:00", "2026-03-01 18:00", "2026-02-01 12:00"]),
            "score": [0.9, 0.2, 0.4, 0.7],
        }
    )
    return rolled_up(scores, "customer_id")


def test_columns_and_types(table: pd.DataFrame) -> None:
    assert list(table.columns) == ["customer_id", "event_timestamp", *SENTIMENT_FEATURES]
    assert all(table[c].dtype == np.float32 for c in SENTIMENT_FEATURES)


def test_a_review_counts_from_the_next_day_only(table: pd.DataFrame) -> None:
    assert table[table["customer_id"] == "A"]["event_timestamp"].min() == pd.Timestamp("2026-01-02")
    row = _at(table, "A", "2026-03-01 23:00")  # the two reviews of 1 March are not known yet
    assert row["reviews_90d"] == 1 and row["sentiment_mean_90d"] == pytest.approx(0.9)


def test_windowed_mean_and_negative_share(table: pd.DataFrame) -> None:
    row = _at(table, "A", "2026-03-02")
    assert row["reviews_90d"] == 3 and row["sentiment_mean_90d"] == pytest.approx(0.5)
    assert row["negative_share_90d"] == pytest.approx(2 / 3)


def test_reviews_leave_the_window(table: pd.DataFrame) -> None:
    row = _at(table, "A", "2026-04-05")  # 1 January is more than 90 days back, still within 365
    assert row["reviews_90d"] == 2 and row["sentiment_mean_90d"] == pytest.approx(0.3)
    assert row["reviews_365d"] == 3
    gone = _at(table, "A", "2027-06-01")
    assert gone["reviews_365d"] == 0 and np.isnan(gone["sentiment_mean_365d"])


def test_no_reviews_is_an_empty_table() -> None:
    empty = rolled_up(pd.DataFrame(columns=["customer_id", "ts", "score"]), "customer_id")
    assert empty.empty and list(empty.columns) == ["customer_id", "event_timestamp", *SENTIMENT_FEATURES]
