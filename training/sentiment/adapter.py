"""What `/sentiment` calls: labels and scores for a batch of texts, and whether each was cut to the token budget.

It also holds what requests need: the limits on a request (`MAX_TEXTS`, `MAX_CHARS`) and the family's `KEY`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from training.family import FamilyKey
from training.sentiment.pyfunc import SentimentModel, labelled

MAX_TEXTS = 64  # texts per request
MAX_CHARS = 5000  # characters per text; longer texts are refused (the model reads the first tokens only)


def unwrap(model: Any) -> SentimentModel:
    inner = model.unwrap_python_model() if hasattr(model, "unwrap_python_model") else model
    if not isinstance(inner, SentimentModel):
        raise ValueError(f"not a sentiment model: {type(inner).__name__}")
    return inner


class SentimentAdapter:
    def __init__(self, model: Any, version: str) -> None:
        self.inner, self.version = unwrap(model), version
        self.max_tokens = self.inner.classifier.max_length

    @property
    def threshold(self) -> float:
        """P(positive) at and above which a text is labelled positive."""
        return float(self.inner.threshold)

    def truncated(self, texts: Sequence[str]) -> np.ndarray:
        """Per text: it has more tokens than the model reads (the model read the first ones)."""
        return np.asarray(self.inner.classifier.token_counts(texts) > self.max_tokens)

    def score(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """label, score and `truncated` (the text had more tokens than the model reads) per text, in order."""
        if not texts:
            return []
        classifier = self.inner.classifier
        frame = labelled(classifier.scores(texts), self.inner.threshold)
        frame["truncated"] = classifier.token_counts(texts) > self.max_tokens
        return frame.to_dict("records")

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.classifier.scores(texts)


KEY: FamilyKey[SentimentAdapter] = FamilyKey("sentiment")  # `Runtime.adapter(KEY)` is a `SentimentAdapter`
