"""Feast definitions: entities, feature views by entity, and one versioned FeatureService per model.

Source paths are relative to the workspace's feature_repo/ folder, so a workspace can be moved as a whole.
"""

from __future__ import annotations

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.types import Float32
from feast.value_type import ValueType

from features.catalog import ENTITY_KEYS, FEATURE_TABLES

CHURN_SERVICE = "churn_v1"
RECOMMENDER_SERVICE = "recommender_v1"
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
# Feature rows are written at every change point, so the newest row is always current: no expiry needed.
NO_EXPIRY = timedelta(days=3650)


def _entity(name: str) -> Entity:
    return Entity(name=name, join_keys=[ENTITY_KEYS[name]], value_type=ValueType.STRING)


def _view(entity: Entity) -> FeatureView:
    source = FileSource(
        name=f"{entity.name}_source",
        path=f"../data/features/{entity.name}_features.parquet",
        timestamp_field="event_timestamp",
    )
    return FeatureView(
        name=f"{entity.name}_features",
        entities=[entity],
        ttl=NO_EXPIRY,
        schema=[Field(name=n, dtype=Float32) for n in FEATURE_TABLES[entity.name]],
        source=source,
        online=True,
    )


customer = _entity("customer")
product = _entity("product")
store = _entity("store")

customer_features = _view(customer)
product_features = _view(product)
store_features = _view(store)

churn_v1 = FeatureService(
    name=CHURN_SERVICE,
    features=[customer_features],
    description="Customer purchase, spend, return and gap features for the churn model.",
    tags={"model": "churn", "version": "1"},
)

recommender_v1 = FeatureService(
    name=RECOMMENDER_SERVICE,
    features=[customer_features[list(RECOMMENDER_CUSTOMER_FEATURES)]],
    description="Customer spend, basket and rhythm features for the recommender's ranker.",
    tags={"model": "recommender", "version": "1"},
)

OBJECTS = [
    customer,
    product,
    store,
    customer_features,
    product_features,
    store_features,
    churn_v1,
    recommender_v1,
]
