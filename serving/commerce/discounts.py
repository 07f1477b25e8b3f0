"""The discount policy: who gets a retention discount, how large, and the expected value that justifies it.

One rule for both uses: `retail campaign build` (the batch file) and the personal offers of
`GET /v1/customers/{id}/offers` (`serving.endpoints.profile`, codes kept by `serving.commerce.offers`). Defaults
below; `--policy FILE` for the campaign, `RETAIL_OFFER_POLICY` for the offers (YAML or JSON, the same fields,
unknown ones refused) replaces any of them.

For a customer with churn probability p, a value at risk V and an offer priced P, a discount of d percent is
worth

    uplift(d)        = min(1, uplift_per_pct * d)          share of would-be churners the discount keeps
    discount_cost    = d/100 * P * ((1 - p) + p * uplift(d)) paid by everyone who buys the offer: those who
                                                            would have stayed and those it keeps
    expected_value   = p * uplift(d) * V - discount_cost    (0 for no discount)

where V = spend in the last `value_window_days` * horizon_days / value_window_days (what the customer brings in
the churn horizon if they stay). The first rule whose band and minimum V match sets d; a discount whose expected
value is not positive is withheld (`require_positive_value`), so every discount in a campaign pays for itself
under these assumptions. Customers no rule matches (low risk, by default) get none.

The offer's mode follows the band too: bands in `up_sell_bands` are offered an upgrade of what they buy when one
is in stock (engaged customers trade up), everyone else the top cross-sell (something new they are likely to
want), which is also the fallback when there is no upgrade.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Band = Literal["low", "medium", "high"]


class DiscountRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    band: Band
    min_value_at_risk: float = Field(default=0.0, ge=0, description="Minimum V (currency units) for this rule.")
    discount_pct: float = Field(gt=0, le=90)


class CampaignPolicy(BaseModel):
    """The numbers behind every discount; see the module docstring for the formula."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizon_days: int = Field(default=90, ge=1, description="The churn horizon the value at risk covers.")
    value_window_days: int = Field(default=365, ge=1, description="Recent spend window behind the spend rate.")
    uplift_per_pct: float = Field(default=0.015, ge=0, le=1, description="Churners kept per discount point.")
    require_positive_value: bool = True
    rules: tuple[DiscountRule, ...] = (
        DiscountRule(band="high", min_value_at_risk=100.0, discount_pct=20.0),
        DiscountRule(band="high", discount_pct=10.0),
        DiscountRule(band="medium", min_value_at_risk=100.0, discount_pct=10.0),
    )
    up_sell_bands: tuple[Band, ...] = ("low",)


def load_policy(path: Path | None) -> CampaignPolicy:
    """The defaults, or a YAML/JSON file's values over them; a clear ValueError for a bad file."""
    if path is None:
        return CampaignPolicy()
    if not path.is_file():
        raise FileNotFoundError(f"--policy {path}: no such file")
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            values = yaml.safe_load(text) or {}
        else:
            values = json.loads(text)
        return CampaignPolicy.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"--policy {path}: {problems}") from None
    except ValueError as exc:  # not YAML / JSON at all
        raise ValueError(f"--policy {path}: {str(exc).splitlines()[0]}") from None


def uplift(policy: CampaignPolicy, discount_pct: np.ndarray) -> np.ndarray:
    return np.minimum(1.0, policy.uplift_per_pct * discount_pct)


def expected_value(
    policy: CampaignPolicy, p: np.ndarray, value_at_risk: np.ndarray, price: np.ndarray, discount_pct: np.ndarray
) -> np.ndarray:
    """p * uplift(d) * V - d/100 * P * ((1 - p) + p * uplift(d)); 0 where d is 0."""
    kept = uplift(policy, discount_pct)
    cost = discount_pct / 100.0 * np.nan_to_num(price) * ((1.0 - p) + p * kept)  # no price: nothing to discount
    return np.where(discount_pct > 0, p * kept * value_at_risk - cost, 0.0)


def decide(
    policy: CampaignPolicy, p: np.ndarray, band: np.ndarray, value_at_risk: np.ndarray, price: np.ndarray
) -> pd.DataFrame:
    """discount_pct, expected_value and discount_reason per customer (arrays in, one row each out).

    A NaN price means no priced offer: no discount (there is nothing to discount).
    """
    n = len(p)
    pct, rule = np.zeros(n), np.full(n, -1)
    offered = ~np.isnan(np.asarray(price, dtype=np.float64))
    for i, r in enumerate(policy.rules):  # the first matching rule wins
        hit = offered & (rule < 0) & (band == r.band) & (value_at_risk >= r.min_value_at_risk)
        pct[hit], rule[hit] = r.discount_pct, i
    value = np.round(expected_value(policy, p, value_at_risk, price, pct), 2)  # in cents: what the file shows
    withheld = (pct > 0) & (value <= 0) & policy.require_positive_value
    reasons = np.array([_rule_text(r) for r in policy.rules] + ["no rule for this risk band and value"], dtype=object)
    reason = reasons[rule].astype(object)  # -1 picks the last entry: no rule
    reason[withheld] = "withheld: " + reason[withheld] + " does not pay for itself"
    reason[~offered] = "no offer in stock online"
    pct[withheld] = 0.0
    value[withheld] = 0.0
    return pd.DataFrame({"discount_pct": pct, "expected_value": value, "discount_reason": reason})


def _rule_text(rule: DiscountRule) -> str:
    value = f" and value at risk >= {rule.min_value_at_risk:g}" if rule.min_value_at_risk > 0 else ""
    return f"{rule.band} risk{value}: {rule.discount_pct:g}% retention discount"
