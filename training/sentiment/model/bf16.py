"""The CPU runtime for processors with AMX matrix units: the torch model in bfloat16, one core per batch.

On the 2-core Xeon with AMX this project is measured on, bfloat16 scores the clothing reviews about 1.3
times as fast as the int8 ONNX export and agrees with full precision more closely (bfloat16 keeps the float range
and rounds each product's inputs; int8 rounds weights and activations to 256 levels). Without AMX, bfloat16
products are emulated and slow, so `training.sentiment.model.runtime.load_scorer` picks int8 there.
"""

from __future__ import annotations

import ctypes
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from training.sentiment.model.classifier import Classifier, cores


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


_single = threading.local()


def _one_core() -> None:
    """A scoring thread's set-up: torch first sets it up from the process setting, then its own OpenMP team is
    limited to one thread. OpenMP keeps that number per thread, so no other thread and no later call is touched,
    whereas `torch.set_num_threads` would also change what every thread started afterwards gets."""
    torch.get_num_threads()
    threadpool_limits(1, user_api="openmp")
    _single.on = True


class Bf16Classifier(Classifier):
    """Batches of 32 texts of similar length, each on one core: every batch runs in the classifier's own threads,
    one per core, each limited to one OpenMP thread once when it starts. The caller's thread and torch's process
    setting are never changed, so concurrent calls cannot leave the process with one thread (setting and
    restoring torch's threads around each call could, when two calls overlapped).

    Measured on 2 cores over the 22,641 clothing reviews, cold: batches of 32 score 360-368 reviews/s, of 16 336,
    of 64 345 (batches of 64 on one two-threaded call: about 255). Batches are padded to a multiple of 8 tokens:
    fewer distinct shapes for oneDNN to prepare kernels for, and about 10% faster than padding to the longest text.
    """

    batch_size = 32
    pad_to = 8

    def __init__(self, tokenizer, model: torch.nn.Module, max_length: int) -> None:  # noqa: ANN001 (HF tokenizer)
        super().__init__(tokenizer, model.to(torch.bfloat16), max_length)
        self.workers = cores()
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="sentiment-bf16", initializer=_one_core)
        keep_freed_memory()

    @classmethod
    def load(cls, folder: Path) -> Bf16Classifier:
        full = Classifier.load(folder)
        return cls(full.tokenizer, full.model, full.max_length)

    def positive(self, batch: list[str]) -> np.ndarray:
        """On one of the one-core threads (a call of a single batch would otherwise run in the caller's)."""
        if getattr(_single, "on", False):
            return super().positive(batch)
        assert self._pool is not None
        return self._pool.submit(super().positive, batch).result()
