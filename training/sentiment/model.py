"""The registered sentiment pyfunc: a `text` column in; `label` and `score` = P(positive) out.

It carries the fine-tuned weights and tokenizer as an artifact folder. On a CPU it runs the linear layers in int8
(dynamic quantization) unless it was logged with `int8=False`; on a GPU it runs in full precision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from training.sentiment.data import LABELS

ARTIFACT = "classifier"
INPUT, OUTPUT = ["text"], ["label", "score"]


def labelled(scores: np.ndarray, threshold: float) -> pd.DataFrame:
    return pd.DataFrame({"label": np.where(scores >= threshold, LABELS[1], LABELS[0]), "score": scores})


class SentimentModel(PythonModel):
    def __init__(self, int8: bool = True, threshold: float = 0.5) -> None:
        self.int8, self.threshold = int8, threshold
        self.classifier: Any = None

    def __getstate__(self) -> dict[str, Any]:  # the weights travel as the artifact folder, not in the pickle
        return self.__dict__ | {"classifier": None}

    def load_context(self, context: Any) -> None:
        from training.sentiment.classifier import Classifier, device

        on_cpu = device().type == "cpu"
        self.classifier = Classifier.load(Path(context.artifacts[ARTIFACT]), quantize=self.int8 and on_cpu)
        if not on_cpu:
            self.classifier.model.to(device())

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        if "text" not in model_input:
            raise ValueError("input lacks a 'text' column")
        texts = model_input["text"].fillna("").astype(str).tolist()
        return labelled(self.classifier.scores(texts), self.threshold)
