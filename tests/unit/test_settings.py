"""Settings that moved into the one `Settings` keep their environment variables and defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from retail.settings import get_settings
from serving.commerce import loyalty


def test_the_loyalty_policy_reads_its_retail_loyalty_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert loyalty.policy() == loyalty.LoyaltyPolicy()  # defaults unchanged
    monkeypatch.setenv("RETAIL_LOYALTY_POINTS_PER_UNIT", "2.5")
    monkeypatch.setenv("RETAIL_LOYALTY_EXPIRY_MONTHS", "6")
    monkeypatch.setenv("RETAIL_LOYALTY_TIERS", '[{"name": "all", "min_spend_cents": 0, "multiplier": 1}]')
    rules = loyalty.policy()
    assert (rules.points_per_unit, rules.expiry_months, rules.point_value_cents) == (2.5, 6, 1)
    assert [t.name for t in rules.tiers] == ["all"]


def test_bad_loyalty_tiers_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETAIL_LOYALTY_TIERS", '[{"name": "x", "min_spend_cents": 5, "multiplier": 1}]')
    with pytest.raises(ValidationError, match="(?s)loyalty_tiers.*the first tier must start at a spend of 0"):
        loyalty.policy()


@pytest.mark.parametrize(("value", "verbose"), [(None, False), ("", False), ("0", False), ("1", True)])
def test_retail_verbose(monkeypatch: pytest.MonkeyPatch, value: str | None, verbose: bool) -> None:
    if value is None:
        monkeypatch.delenv("RETAIL_VERBOSE", raising=False)
    else:
        monkeypatch.setenv("RETAIL_VERBOSE", value)
    assert get_settings().verbose is verbose
