"""The registered sentiment pyfunc: a `text` column in; `label` and `score` = P(positive) out.

It carries the fine-tuned weights, tokenizer and their int8 ONNX export as an artifact folder. On a CPU it scores
with ONNX Runtime in int8 unless it was logged with `int8=False`; on a GPU it runs the torch model.
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


def load_scorer(folder: Path, int8: bool) -> Any:
    """ONNX Runtime int8 on a CPU when asked for and exported; else the torch model, on the GPU if there is one."""
    from training.sentiment.classifier import Classifier, device
    from training.sentiment.int8 import MODEL_FILE, Int8Classifier

    if int8 and device().type == "cpu" and (folder / MODEL_FILE).exists():
        return Int8Classifier(folder)
    classifier = Classifier.load(folder)
    classifier.model.to(device())
    return classifier


class SentimentModel(PythonModel):
    def __init__(self, int8: bool = True, threshold: float = 0.5) -> None:
        self.int8, self.threshold = int8, threshold
        self.classifier: Any = None

    def __getstate__(self) -> dict[str, Any]:  # the weights travel as the artifact folder, not in the pickle
        return self.__dict__ | {"classifier": None}

    def load_context(self, context: Any) -> None:
        self.classifier = load_scorer(Path(context.artifacts[ARTIFACT]), self.int8)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        if "text" not in model_input:
            raise ValueError("input lacks a 'text' column")
        texts = model_input["text"].fillna("").astype(str).tolist()
        return labelled(self.classifier.scores(texts), self.threshold)
