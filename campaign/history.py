"""Per customer from the raw transactions before `as_of`: lifetime value, recent spend, value at risk, loyalty tier.

- lifetime_value: net spend to date, sum(quantity * unit_price) over every line before `as_of` (returns count
  negative).
- spend_recent: the same over the last `value_window_days` before `as_of`; value_at_risk scales it to the churn
  horizon (spend_recent * horizon_days / value_window_days): what the customer brings in if they stay.
- loyalty_tier: the loyalty programme's tiers (`serving.commerce.loyalty.policy()`, `RETAIL_LOYALTY_*`) applied to
  the paid spend less refunds of its window (`tier_window_days`, 365 by default) before `as_of`, as the ledger
  does for orders placed through the API. Computed from the raw transactions for every customer alike, so a
  customer without a loyalty account (or any order in the order DB) gets the tier their purchases earn; API
  orders count once `retail features build` has exported them to the raw transactions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from serving.commerce.discounts import CampaignPolicy
from serving.commerce.loyalty import LoyaltyPolicy
from training.churn.dataset import known_customers as churn_known_customers


def known_customers(tx: pd.DataFrame, as_of: pd.Timestamp) -> np.ndarray:
    """Customers with any transaction before `as_of`: whom churn scores (`training.churn.dataset`), sorted."""
    return np.asarray(churn_known_customers(tx, as_of), dtype=object)


def tiers(loyalty: LoyaltyPolicy, spend: np.ndarray) -> np.ndarray:
    """The tier name each spend (currency units) reaches, as `loyalty.tier_for` decides it, for many at once."""
    floors = np.array([t.min_spend_cents for t in loyalty.tiers])
    cents = np.round(np.nan_to_num(spend) * 100).astype(np.int64)
    reached = np.maximum(np.searchsorted(floors, cents, side="right") - 1, 0)
    return np.array([t.name for t in loyalty.tiers], dtype=object)[reached]


def customer_values(
    tx: pd.DataFrame, customers: np.ndarray, as_of: pd.Timestamp, policy: CampaignPolicy, loyalty: LoyaltyPolicy
) -> pd.DataFrame:
    """lifetime_value, spend_recent, value_at_risk, loyalty_tier for `customers` (their order), from `tx`."""
    lines = tx.loc[(tx["ts"] < as_of) & tx["customer_id"].notna(), ["customer_id", "ts", "quantity", "unit_price"]]
    amount = lines["quantity"].to_numpy(np.float64) * lines["unit_price"].to_numpy(np.float64)
    ts = lines["ts"].to_numpy()
    codes = pd.Index(customers).get_indexer(lines["customer_id"])
    mine = codes >= 0

    def total(since: pd.Timestamp | None) -> np.ndarray:
        keep = mine if since is None else mine & (ts >= since.to_datetime64())
        return np.bincount(codes[keep], weights=amount[keep], minlength=len(customers))

    day = pd.Timedelta(days=1)
    recent = total(as_of - policy.value_window_days * day)
    window = (
        recent
        if loyalty.tier_window_days == policy.value_window_days
        else total(as_of - loyalty.tier_window_days * day)
    )
    return pd.DataFrame(
        {
            "lifetime_value": np.round(total(None), 2),
            "spend_recent": np.round(recent, 2),
            "value_at_risk": np.round(recent * policy.horizon_days / policy.value_window_days, 2),
            "loyalty_tier": tiers(loyalty, window),
        }
    )
