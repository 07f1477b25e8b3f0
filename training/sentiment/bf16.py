"""The CPU runtime for processors with AMX matrix units: the torch model in bfloat16, one core per batch.

On the 2-core Xeon with AMX this project is measured on, bfloat16 scores the clothing reviews about 1.3
times as fast as the int8 ONNX export and agrees with full precision more closely (bfloat16 keeps the float range
and rounds each product's inputs; int8 rounds weights and activations to 256 levels). Without AMX, bfloat16
products are emulated and slow, so `training.sentiment.model.load_scorer` picks int8 there.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from training.sentiment.classifier import Classifier, cores


def keep_freed_memory() -> None:
    """Have glibc reuse freed blocks up to 32 MB rather than map and unmap them on every call.

    A forward pass allocates and frees activations of up to ~16 MB; by default glibc returns such blocks to the
    system and faults fresh pages in on the next batch, which cost about 12% of the bfloat16 scoring rate on a
    cold run over the clothing reviews (292 against 334 reviews/s warm). Elsewhere than glibc it does nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    trim, mmap = -1, -3  # M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
    libc.mallopt(mmap, 32 * 2**20)
    libc.mallopt(trim, 256 * 2**20)


def amx() -> bool:
    """Whether this CPU has AMX tiles for bfloat16 (as Linux reports its flags)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags.split()


class Bf16Classifier(Classifier):
    """Batches of 32 texts of similar length, each on one core (torch's intra-op threads set to one while scoring).

    Measured on 2 cores over the 22,641 clothing reviews, cold: batches of 32 score 360-368 reviews/s, of 16 336,
    of 64 345 (batches of 64 on one two-threaded call: about 255). Batches are padded to a multiple of 8 tokens:
    fewer distinct shapes for oneDNN to prepare kernels for, and about 10% faster than padding to the longest text.
    """

    batch_size = 32
    pad_to = 8

    def __init__(self, tokenizer, model: torch.nn.Module, max_length: int) -> None:  # noqa: ANN001 (HF tokenizer)
        super().__init__(tokenizer, model.to(torch.bfloat16), max_length)
        self.workers = cores()
        keep_freed_memory()

    @classmethod
    def load(cls, folder: Path) -> Bf16Classifier:
        full = Classifier.load(folder)
        return cls(full.tokenizer, full.model, full.max_length)

    def scores(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return super().scores(texts, batch_size)
        finally:
            torch.set_num_threads(threads)
