"""The registered sentiment pyfunc: a `text` column in; `label` and `score` = P(positive) out.

It carries the fine-tuned weights, tokenizer and their int8 ONNX export as an artifact folder. Which runtime
scores (`runtime`): on a GPU the torch model; on a CPU with AMX the torch model in bfloat16; on other CPUs the int8
ONNX export; full precision when logged with `int8=False`. RETAIL_SENTIMENT_RUNTIME (bf16, int8 or fp32) overrides.
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


def runtime(int8: bool, exported: bool, asked: str = "auto") -> str:
    """The runtime to score with: `asked` unless it is auto; else as the module docstring says."""
    from training.sentiment.bf16 import amx
    from training.sentiment.classifier import device

    if asked == "int8" and not exported:
        raise ValueError("RETAIL_SENTIMENT_RUNTIME=int8, but this model has no int8 export (logged with int8=False)")
    if asked != "auto":
        return asked
    if not int8 or device().type != "cpu":
        return "fp32"
    if amx():
        return "bf16"
    return "int8" if exported else "fp32"


def load_scorer(folder: Path, int8: bool, asked: str | None = None) -> Any:
    """The classifier in `folder` in the runtime `runtime` picks (`asked`: default RETAIL_SENTIMENT_RUNTIME)."""
    from retail.settings import get_settings
    from training.sentiment.bf16 import Bf16Classifier
    from training.sentiment.classifier import Classifier, device
    from training.sentiment.int8 import MODEL_FILE, Int8Classifier

    chosen = runtime(int8, (folder / MODEL_FILE).exists(), asked or get_settings().sentiment_runtime)
    if chosen == "int8":
        return Int8Classifier(folder)
    if chosen == "bf16":
        return Bf16Classifier.load(folder)
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
