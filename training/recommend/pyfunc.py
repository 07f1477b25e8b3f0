"""The MLflow pyfunc `recommender`: candidate sources, rankers and product table travel inside one model.

One output row per input row (arrays of product ids, scores and reasons), so batch scoring maps onto an MLflow
`spark_udf` as well as onto `predict`. The service unwraps the `Recommender` to add stock filtering per request.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import Array, ColSpec, DataType, Schema

from training.recommend.columns import StaleModel, check_features
from training.recommend.model import Recommender

__all__ = ["LAYOUT", "SIGNATURE", "RecommenderModel", "StaleModel", "input_example", "recommender_of"]

SIGNATURE = ModelSignature(
    inputs=Schema(
        [
            ColSpec(DataType.string, "customer_id", required=False),
            ColSpec(Array(DataType.string), "cart", required=False),
            ColSpec(DataType.string, "mode", required=False),
            ColSpec(DataType.long, "k", required=False),
        ]
    ),
    outputs=Schema(
        [
            ColSpec(Array(DataType.string), "product_ids"),
            ColSpec(Array(DataType.double), "scores"),
            ColSpec(Array(DataType.string), "reasons"),
            ColSpec(DataType.string, "note"),
        ]
    ),
)
# The pickled layout of `Recommender` (its features and tables). Raise it whenever a change would make a model
# pickled by older code compute wrong features or fail: such a model is then refused with a clear message.
LAYOUT = 2  # 2: ages as shares of the history (features are checked by name too: `columns.check_features`)


def input_example(recommender: Recommender) -> pd.DataFrame:
    """A request the model can answer: its first customer with its first product in the cart."""
    customers = recommender.reranker.interactions.customer_ids
    return pd.DataFrame(
        {
            "customer_id": [customers[0] if customers else None],
            "cart": [list(recommender.product_ids[:1])],
            "mode": ["all"],
            "k": [5],
        }
    )


def _value(row: pd.Series, column: str, default: Any) -> Any:
    value = row.get(column, default)
    return default if value is None or (isinstance(value, float) and value != value) else value


class RecommenderModel(PythonModel):
    """customer_id, cart, mode, k in; product_ids, scores, reasons, note out (one row per request)."""

    def __init__(self, recommender: Recommender) -> None:
        self.recommender = recommender
        self.layout = LAYOUT

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        rows = []
        for _, row in model_input.iterrows():
            cart = _value(row, "cart", [])
            found = self.recommender.recommend(
                _value(row, "customer_id", None),
                [str(p) for p in cart],
                str(_value(row, "mode", "all")),  # type: ignore[arg-type]  # checked inside
                int(_value(row, "k", 10)),
            )
            rows.append(
                {
                    "product_ids": [i.product_id for i in found.items],
                    "scores": [i.score for i in found.items],
                    "reasons": [i.reason for i in found.items],
                    "note": found.note,
                }
            )
        return pd.DataFrame(rows, columns=["product_ids", "scores", "reasons", "note"])


def recommender_of(loaded: Any, name: str) -> Recommender:
    """The `Recommender` inside a loaded pyfunc; `name` says which model it is in the error."""
    wrapper = loaded.unwrap_python_model()
    if not isinstance(wrapper, RecommenderModel):
        raise ValueError(f"{name} is not a recommender pyfunc")
    layout = wrapper.__dict__.get("layout", 1)  # models from before layouts were recorded are layout 1
    if layout != LAYOUT:
        raise StaleModel(
            f"{name} was trained by another version of this code (model layout {layout}, this code reads "
            f"{LAYOUT}): retrain it with `retail train recommender`"
        )
    check_features(wrapper.recommender, name)  # and it reads, by name, the features this code computes
    return wrapper.recommender
