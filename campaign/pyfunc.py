"""The campaign's scoring as one MLflow pyfunc, so a Spark cluster can run it as `mlflow.pyfunc.spark_udf`.

`CampaignModel` carries the churn and recommender champions it was logged with (as artifacts), the products in
stock online and their prices at that moment, and the discount policy; `predict` is `Scorer.score`, the code
`retail campaign build` runs, on whatever rows it is given (one worker: Spark is the parallelism).

Input, one row per customer: `customer_id`, `as_of_day` and the churn features (`churn.features_as_of`), the
history values (`history.customer_values`) and `bought`, the products bought before `as_of` (for cross-sell).
Output: the campaign columns (`build.COLUMNS`).

    uri = log_campaign_model(ws, settings, as_of)         # a run in the workspace's `campaign` experiment
    udf = mlflow.pyfunc.spark_udf(spark, uri, result_type=spark_result_type())
    scored = frame.withColumn("c", udf(struct(*INPUT_COLUMNS))).select("c.*")

`benchmarks/campaign_spark.py` runs this in a local SparkSession and compares it with `retail campaign build`.
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import scipy.sparse as sp
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import Array, ColSpec, DataType, Schema, TensorSpec

from campaign.build import COLUMNS, Scorer, load_scorer
from features.catalog import CUSTOMER_FEATURES
from retail.settings import Settings
from retail.workspace import Workspace
from serving.commerce.discounts import CampaignPolicy
from training import tracking
from training.recommend.pyfunc import recommender_of

log = logging.getLogger(__name__)
VALUE_COLUMNS = ["lifetime_value", "spend_recent", "value_at_risk"]
INPUT_COLUMNS = ["customer_id", "as_of_day", *CUSTOMER_FEATURES, *VALUE_COLUMNS, "loyalty_tier", "bought"]
_STRINGS = {"customer_id", "risk_band", "loyalty_tier", "offer_product_id", "offer_mode", "offer_reason"}
_STRINGS |= {"discount_reason", "driver_1", "driver_2", "driver_3"}

_INPUTS: list[ColSpec | TensorSpec] = [ColSpec(DataType.string, "customer_id")]
_INPUTS += [ColSpec(DataType.double, c) for c in ["as_of_day", *CUSTOMER_FEATURES, *VALUE_COLUMNS]]
_INPUTS += [ColSpec(DataType.string, "loyalty_tier"), ColSpec(Array(DataType.string), "bought", required=False)]
_OUTPUTS: list[ColSpec | TensorSpec] = [
    ColSpec(DataType.string if c in _STRINGS else DataType.double, c) for c in COLUMNS
]
SIGNATURE = ModelSignature(
    inputs=Schema(_INPUTS),
    outputs=Schema(_OUTPUTS),
)


def spark_result_type() -> str:
    """The UDF's result as a Spark DDL struct (the output schema's columns and types)."""
    return "struct<" + ", ".join(f"{c}: {'string' if c in _STRINGS else 'double'}" for c in COLUMNS) + ">"


class CampaignModel(PythonModel):
    """Churn + recommender champions, stock, prices and policy; `predict` gives campaign rows."""

    def __init__(
        self, versions: dict[str, str], in_stock: list[str] | None, prices: dict[str, float], policy: CampaignPolicy
    ) -> None:
        self.versions, self.in_stock, self.prices, self.policy = versions, in_stock, prices, policy
        self.scorer: Scorer | None = None

    def load_context(self, context: Any) -> None:
        churn = mlflow.pyfunc.load_model(context.artifacts["churn"])
        rec = recommender_of(mlflow.pyfunc.load_model(context.artifacts["recommender"]), "recommender")
        stocked = None if self.in_stock is None else np.isin(np.array(rec.product_ids), self.in_stock)
        prices = pd.Series(self.prices, dtype="float64")
        v = self.versions
        self.scorer = Scorer(churn, v["churn"], rec, v["recommender"], stocked, prices, self.policy)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "scorer"}  # the models travel as artifacts

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        if self.scorer is None:
            self.load_context(context)
        assert self.scorer is not None
        frame = model_input.reset_index(drop=True)
        features = frame[["customer_id", "as_of_day", *CUSTOMER_FEATURES]].astype({"customer_id": str})
        values = frame[[*VALUE_COLUMNS, "loyalty_tier"]]
        bought = _bought(frame.get("bought"), self.scorer.recommender.product_ids, len(frame))
        return self.scorer.score(features, values, bought, workers=1, progress=log.debug)


def _bought(column: pd.Series | None, product_ids: tuple[str, ...], n: int) -> sp.csr_matrix:
    """Rows x products, 1 where the row's `bought` list names the product (unknown products are ignored)."""
    index = {p: i for i, p in enumerate(product_ids)}
    rows, cols = [], []
    for r, products in enumerate(column if column is not None else []):
        for p in [] if products is None or (isinstance(products, float) and np.isnan(products)) else products:
            if str(p) in index:
                rows.append(r)
                cols.append(index[str(p)])
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(n, len(product_ids)))


def model_input(
    features: pd.DataFrame, values: pd.DataFrame, bought: sp.csr_matrix, products: tuple[str, ...]
) -> pd.DataFrame:
    """The pyfunc's input rows from `build.campaign_inputs`' pieces."""
    ids = np.array(products, dtype=object)
    lists = [list(ids[bought.indices[bought.indptr[r] : bought.indptr[r + 1]]]) for r in range(bought.shape[0])]
    frame = features[["customer_id", "as_of_day", *CUSTOMER_FEATURES]].reset_index(drop=True)
    frame = pd.concat([frame, values[[*VALUE_COLUMNS, "loyalty_tier"]].reset_index(drop=True)], axis=1)
    return frame.assign(bought=lists)


def log_campaign_model(
    ws: Workspace, settings: Settings, as_of: pd.Timestamp, policy: CampaignPolicy | None = None
) -> str:
    """Log `CampaignModel` with today's champions, stock and prices in the `campaign` experiment; its model URI."""
    policy = policy or CampaignPolicy()
    tracking.connect(ws, settings)
    scorer = load_scorer(ws, settings, as_of, policy)
    versions = {"churn": scorer.churn_version, "recommender": scorer.recommender_version}
    stocked = scorer.available
    in_stock = (
        None if stocked is None else [p for p, ok in zip(scorer.recommender.product_ids, stocked, strict=True) if ok]
    )
    model = CampaignModel(versions, in_stock, scorer.prices.to_dict(), policy)
    artifacts = {name: f"models:/{name}/{version}" for name, version in versions.items()}
    with mlflow.start_run(experiment_id=tracking.experiment(ws, "campaign"), run_name=f"campaign-{as_of:%Y%m%d}"):
        mlflow.log_params({f"{k}_version": v for k, v in versions.items()} | {"as_of": f"{as_of:%Y-%m-%d}"})
        info = mlflow.pyfunc.log_model(
            name="campaign", python_model=model, artifacts=artifacts, signature=SIGNATURE, metadata=versions
        )
    return str(info.model_uri)
