"""Feature names per entity, written once: transforms produce them, Feast declares them, models read them."""

from __future__ import annotations

CUSTOMER_WINDOWS = (30, 90, 180, 365)
ENTITY_WINDOWS = (30, 90)

CUSTOMER_FEATURES: tuple[str, ...] = (
    *(f"orders_{w}d" for w in CUSTOMER_WINDOWS),
    *(f"spend_{w}d" for w in CUSTOMER_WINDOWS),
    *(f"units_{w}d" for w in CUSTOMER_WINDOWS),
    *(f"active_days_{w}d" for w in CUSTOMER_WINDOWS),
    "orders_trend",  # orders in the last 90 days against the 90 before them
    "spend_trend",
    "orders_total",
    "spend_total",
    "avg_order_value",
    "avg_line_price",  # mean unit price of the lines bought: separates bulk buyers from gift shoppers
    "lines_per_order",
    "returns_share",
    "bulk_share",  # share of the lines bought by the dozen or more: resellers restock, gift shoppers do not
    "product_popularity",  # mean log1p(earlier buyers) of the products bought, taken when each was bought
    "order_hour_mean",  # mean time of day of the orders (hours): trade buyers order in office hours
    "active_months",  # calendar months with a purchase
    "distinct_products",
    "distinct_categories",
    "gap_mean_days",
    "gap_std_days",
    "last_gap_days",
    "first_purchase_day",  # days since 1970-01-01; tenure is taken against the scoring date
    "last_purchase_day",  # recency is taken against the scoring date
)

PRODUCT_FEATURES: tuple[str, ...] = (
    *(f"units_{w}d" for w in ENTITY_WINDOWS),
    *(f"orders_{w}d" for w in ENTITY_WINDOWS),
    *(f"revenue_{w}d" for w in ENTITY_WINDOWS),
    "units_total",
    "avg_unit_price",
    "return_rate",
)

STORE_FEATURES: tuple[str, ...] = (
    *(f"orders_{w}d" for w in ENTITY_WINDOWS),
    *(f"revenue_{w}d" for w in ENTITY_WINDOWS),
)

SENTIMENT_WINDOWS = (90, 365)
SENTIMENT_FEATURES: tuple[str, ...] = tuple(  # per customer and per product, from the reviews written
    f"{name}_{w}d" for w in SENTIMENT_WINDOWS for name in ("sentiment_mean", "negative_share", "reviews")
)

FEATURE_TABLES = {"customer": CUSTOMER_FEATURES, "product": PRODUCT_FEATURES, "store": STORE_FEATURES}
ENTITY_KEYS = {"customer": "customer_id", "product": "product_id", "store": "store_id"}

# FeatureService names (features/repo/definitions.py declares them; importing this module does not load Feast)
CHURN_SERVICE = "churn_v1"
RECOMMENDER_SERVICE = "recommender_v1"
DEMAND_SERVICE = "demand_v1"
SENTIMENT_SERVICE = "sentiment_v1"
# the customer features the recommender's ranker reads (training: point in time; serving: online, per request)
RECOMMENDER_CUSTOMER_FEATURES = (
    "orders_90d",
    "spend_90d",
    "avg_order_value",
    "avg_line_price",
    "lines_per_order",
    "distinct_categories",
    "returns_share",
    "orders_trend",
    "gap_mean_days",
)
# push sources: order events write a customer's recomputed rows to the online store between builds
CUSTOMER_PUSH = "customer_push"
CUSTOMER_PRODUCTS_PUSH = "customer_products_push"
CUSTOMER_SENTIMENT_PUSH = "customer_sentiment_push"
