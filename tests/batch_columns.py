"""What `retail predict NAME` writes, column by column, per family: both tiers of the family contract hold to it."""

from __future__ import annotations

BATCH_COLUMNS: dict[str, list[str]] = {
    "churn": ["customer_id", "churn_probability", "risk_band", "driver_1", "driver_2", "driver_3"],
    "recommender": ["customer_id", "rank", "product_id", "score", "reason"],
    "demand": [
        "product_id",
        "ds",
        "p10",
        "p50",
        "p90",
        "adjusted",
        "override_id",
        "revenue_p10",
        "revenue_p50",
        "revenue_p90",
        "revenue_adjusted",
    ],
    "sentiment": ["review_id", "customer_id", "product_id", "ts", "rating", "text", "label", "score"],
}
