"""The discount policy lives in `serving.commerce.discounts`: the campaign and the personal offers share one rule."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from serving.commerce import discounts
from serving.commerce.discounts import CampaignPolicy, DiscountRule, decide, load_policy


def test_the_campaign_uses_the_serving_policy_and_the_old_module_is_gone() -> None:
    from campaign import build, cli, history

    assert build.decide is discounts.decide and build.CampaignPolicy is CampaignPolicy
    assert history.CampaignPolicy is CampaignPolicy and cli.load_policy is load_policy
    assert importlib.util.find_spec("campaign.policy") is None


def test_the_first_matching_rule_sets_the_discount() -> None:
    policy = CampaignPolicy(require_positive_value=False)
    p = np.array([0.8, 0.8, 0.5, 0.1])
    band = np.array(["high", "high", "medium", "low"], dtype=object)
    value = np.array([150.0, 50.0, 150.0, 500.0])
    out = decide(policy, p, band, value, np.array([20.0, 20.0, 20.0, 20.0]))
    expected = [rule.discount_pct for rule in policy.rules] + [0.0]
    assert list(out["discount_pct"]) == expected
    assert out["discount_reason"][0] == "high risk and value at risk >= 100: 20% retention discount"
    assert out["discount_reason"][3] == "no rule for this risk band and value"


def test_a_discount_that_does_not_pay_for_itself_is_withheld_and_no_price_means_no_discount() -> None:
    policy = CampaignPolicy()
    p, band = np.array([0.7, 0.7]), np.array(["high", "high"], dtype=object)
    out = decide(policy, p, band, np.array([1.0, 150.0]), np.array([500.0, np.nan]))
    assert list(out["discount_pct"]) == [0.0, 0.0] and list(out["expected_value"]) == [0.0, 0.0]
    assert out["discount_reason"][0].startswith("withheld: high risk") and "pay for itself" in out["discount_reason"][0]
    assert out["discount_reason"][1] == "no offer in stock online"
    paid = decide(policy, p[:1], band[:1], np.array([150.0]), np.array([20.0]))
    assert paid["discount_pct"][0] == 20.0 and paid["expected_value"][0] > 0


def test_a_policy_file_replaces_the_defaults_and_a_bad_one_names_the_file_and_field(tmp_path: Path) -> None:
    assert load_policy(None) == CampaignPolicy()
    good = tmp_path / "policy.yaml"
    good.write_text("rules:\n  - band: low\n    discount_pct: 5\nhorizon_days: 30\n")
    loaded = load_policy(good)
    assert loaded.rules == (DiscountRule(band="low", discount_pct=5),) and loaded.horizon_days == 30
    assert loaded.value_window_days == CampaignPolicy().value_window_days  # the rest keep their defaults
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rules": [{"band": "huge", "discount_pct": 5}]}))
    with pytest.raises(ValueError, match=r"bad\.json: rules\.0\.band"):
        load_policy(bad)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_policy(tmp_path / "missing.json")
