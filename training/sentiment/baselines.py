"""The sentiment yardsticks: the VADER lexicon and a frozen MiniLM encoder with a logistic-regression head."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from transformers import AutoModel, AutoTokenizer
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from training.family import Context, Dataset
from training.sentiment.model.classifier import base_model_path, length_batches, quiet

VADER_THRESHOLD = 0.05  # compound score at or above it reads as positive (VADER's own convention)


def vader_scores(texts: Sequence[str]) -> np.ndarray:
    """VADER's compound score mapped from [-1, 1] to [0, 1]; positive at >= 0.525 (compound 0.05)."""
    analyzer = SentimentIntensityAnalyzer()
    return np.array([(analyzer.polarity_scores(t)["compound"] + 1) / 2 for t in texts])


def vader_threshold() -> float:
    return (VADER_THRESHOLD + 1) / 2


class FrozenEncoder:
    """Mean-pooled MiniLM sentence embeddings (the base weights, untouched) and a balanced logistic regression."""

    def __init__(self, max_length: int = 128) -> None:
        quiet()
        base = base_model_path()
        self.tokenizer = AutoTokenizer.from_pretrained(str(base))
        self.encoder = AutoModel.from_pretrained(str(base)).eval()
        self.max_length = max_length
        self.head = LogisticRegression(class_weight="balanced", max_iter=2000)

    @torch.inference_mode()
    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), self.encoder.config.hidden_size), dtype="float32")
        for idx in length_batches(np.array([len(t) for t in texts]), batch_size, None):
            enc = self.tokenizer(
                [texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            hidden = self.encoder(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out[idx] = torch.nn.functional.normalize(pooled, dim=1).numpy()
        return out

    def fit(self, texts: Sequence[str], labels: np.ndarray) -> FrozenEncoder:
        self.head.fit(self.embed(texts), labels)
        return self

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        return self.head.predict_proba(self.embed(texts))[:, 1]


def fit(ctx: Context, data: Dataset) -> FrozenEncoder:
    """The family's baselines stage: the frozen encoder's head on the training reviews (VADER needs no fit)."""
    ctx.progress(f"sentiment: frozen-encoder baseline on {len(data.train):,} reviews")
    return FrozenEncoder().fit(data.train["text"].tolist(), data.train["label"].to_numpy())
