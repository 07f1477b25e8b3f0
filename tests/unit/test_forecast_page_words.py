"""The forecasts page names a model's frequency in words, whatever alias it was trained with."""

from __future__ import annotations

import pytest

from serving.web import forecast_view


@pytest.mark.parametrize(
    ("freq", "cadence", "period"),
    [
        ("D", "daily", "day"),
        ("W", "weekly", "week"),
        ("W-MON", "weekly", "week"),
        ("W-FRI", "weekly", "week"),
        ("MS", "monthly", "month"),
    ],
)
def test_a_frequency_is_named_in_words(freq: str, cadence: str, period: str) -> None:
    assert forecast_view.cadence(freq) == cadence
    assert forecast_view.period(freq) == period
