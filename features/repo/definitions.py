"""Feast definitions: entities, feature views by entity, and one versioned FeatureService per model.

Source paths are relative to the workspace's feature_repo/ folder, so a workspace can be moved as a whole.
"""

from __future__ import annotations

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource
from feast.types import Array, Float32, String
from feast.value_type import ValueType

from features.catalog import (  # names other modules import without loading Feast, re-exported here
    CHURN_SERVICE,
    CUSTOMER_PRODUCTS_PUSH,
    CUSTOMER_PUSH,
    CUSTOMER_SENTIMENT_PUSH,
    DEMAND_SERVICE,
    ENTITY_KEYS,
    FEATURE_TABLES,
    RECOMMENDER_CUSTOMER_FEATURES,
    RECOMMENDER_SERVICE,
    SENTIMENT_FEATURES,
    SENTIMENT_SERVICE,
)
from features.sales import ATTRIBUTE_FIELDS, SALES_FIELDS

# Feature rows are written at every change point, so the newest row is always current: no expiry needed.
NO_EXPIRY = timedelta(days=3650)


def _entity(name: str) -> Entity:
    return Entity(name=name, join_keys=[ENTITY_KEYS[name]], value_type=ValueType.STRING)


def _view(entity: Entity, push: str | None = None) -> FeatureView:
    source: FileSource | PushSource = FileSource(
        name=f"{entity.name}_source",
        path=f"../data/features/{entity.name}_features.parquet",
        timestamp_field="event_timestamp",
    )
    if push is not None:  # the build's file stays the batch source: training and materialization read it
        source = PushSource(name=push, batch_source=source)
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

customer_features = _view(customer, push=CUSTOMER_PUSH)
product_features = _view(product)
store_features = _view(store)


def _table_view(
    name: str, entities: list[Entity], fields: list[Field], online: bool, push: str | None = None
) -> FeatureView:
    """A view over a table the build writes under data/features/, rows stamped when their values became known."""
    source: FileSource | PushSource = FileSource(
        name=f"{name}_source", path=f"../data/features/{name}.parquet", timestamp_field="event_timestamp"
    )
    if push is not None:
        source = PushSource(name=push, batch_source=source)
    return FeatureView(name=name, entities=entities, ttl=NO_EXPIRY, schema=fields, source=source, online=online)


SALES_SCHEMA = [Field(name=n, dtype=Float32) for n in SALES_FIELDS]
product_daily_sales = _table_view("product_daily_sales", [product], SALES_SCHEMA, online=False)
product_store_daily_sales = _table_view("product_store_daily_sales", [product, store], SALES_SCHEMA, online=False)
product_attributes = _table_view(
    "product_attributes",
    [product],
    [Field(name=n, dtype=Float32 if n == "list_price" else String) for n in ATTRIBUTE_FIELDS],
    online=True,
)

# every product a customer has bought, newest state only: what cross-sell leaves out (serving, not training)
customer_products = _table_view(
    "customer_products",
    [customer],
    [Field(name="products_bought", dtype=Array(String))],
    online=True,
    push=CUSTOMER_PRODUCTS_PUSH,
)

SENTIMENT_SCHEMA = [Field(name=n, dtype=Float32) for n in SENTIMENT_FEATURES]
customer_sentiment = _table_view(
    "customer_sentiment", [customer], SENTIMENT_SCHEMA, online=True, push=CUSTOMER_SENTIMENT_PUSH
)
product_sentiment = _table_view("product_sentiment", [product], SENTIMENT_SCHEMA, online=True)

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

demand_v1 = FeatureService(
    name=DEMAND_SERVICE,
    features=[product_daily_sales, product_store_daily_sales, product_attributes],
    description="Daily units, revenue and price against the usual price per product (and store); category, tier.",
    tags={"model": "demand", "version": "1"},
)

sentiment_v1 = FeatureService(
    name=SENTIMENT_SERVICE,
    features=[customer_sentiment, product_sentiment],
    description="Rolling review sentiment (mean score, negative share, count over 90 and 365 days) per customer "
    "and product, scored by the sentiment champion.",
    tags={"model": "sentiment", "version": "1"},
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
    product_daily_sales,
    product_store_daily_sales,
    product_attributes,
    demand_v1,
    customer_products,
    customer_sentiment,
    product_sentiment,
    sentiment_v1,
]
