"""The registered sentiment pyfunc: a `text` column in; `label` and `score` = P(positive) out.

It carries the fine-tuned weights, tokenizer and their int8 ONNX export as an artifact folder, and scores in the
runtime `training.sentiment.model.runtime` picks for the machine it is loaded on. This module imports no torch:
the service's adapter checks a loaded model against `SentimentModel` without loading it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel

from training.family import Dataset, Packaged
from training.sentiment.dataset import LABELS, fingerprints

if TYPE_CHECKING:
    from training.sentiment.model.classifier import Classifier

ARTIFACT = "classifier"
INPUT, OUTPUT = ["text"], ["label", "score"]
TRAIN_HASHES = "evaluation/train_hashes.parquet"  # which texts a version trained on (see `dataset.fingerprints`)


def labelled(scores: np.ndarray, threshold: float) -> pd.DataFrame:
    return pd.DataFrame({"label": np.where(scores >= threshold, LABELS[1], LABELS[0]), "score": scores})


class SentimentModel(PythonModel):
    def __init__(self, int8: bool = True, threshold: float = 0.5) -> None:
        self.int8, self.threshold = int8, threshold
        self.classifier: Any = None

    def __getstate__(self) -> dict[str, Any]:  # the weights travel as the artifact folder, not in the pickle
        return self.__dict__ | {"classifier": None}

    def load_context(self, context: Any) -> None:
        from training.sentiment.model.runtime import load_scorer  # lazy: torch loads with the weights

        self.classifier = load_scorer(Path(context.artifacts[ARTIFACT]), self.int8)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        if "text" not in model_input:
            raise ValueError("input lacks a 'text' column")
        texts = model_input["text"].fillna("").astype(str).tolist()
        return labelled(self.classifier.scores(texts), self.threshold)


def package(model: Classifier, data: Dataset) -> Packaged:
    """The family's package stage: the pyfunc scoring in its served runtime, its artifact folder, the hashes of
    the texts it trained on (logged to the run, for fair comparisons later)."""
    from training.sentiment.model import runtime  # lazy: torch, as in `SentimentModel.load_context`

    int8 = bool(data.params["int8"])
    pyfunc = SentimentModel(int8=int8)
    pyfunc.classifier = runtime.served(model, int8)
    log_train_hashes(data.train["text"])
    example = pd.DataFrame({"text": ["Love this dress, fits perfectly.", "Cheap fabric and it ripped."]})
    return Packaged(
        pyfunc,
        infer_signature(example, pyfunc.predict(None, example)),
        example,
        metrics={"train_rows": float(len(data.train)), "max_length": float(model.max_length)},
        metadata={"max_length": model.max_length, "labels": list(LABELS)},
        artifacts={ARTIFACT: str(runtime.saved(model, int8))},
    )


def log_train_hashes(texts: pd.Series) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(TRAIN_HASHES).name
        pd.DataFrame({"hash": fingerprints(texts)}).to_parquet(path, index=False)
        mlflow.log_artifact(str(path), str(Path(TRAIN_HASHES).parent))
