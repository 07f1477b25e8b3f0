"""How the CPU runtimes score without AMX: int8 batching variants, bfloat16, and where int8's time goes.

Loads a saved classifier folder with its int8 export (for example the one `benchmarks/sentiment_domains.py`
saves) and scores the same sample of clothing reviews (Title + ". " + Review Text) with each variant, interleaved
`--rounds` times so that load from other jobs hits all of them alike: int8 as before (each batch tokenized after
sorting by characters), int8 now (every text tokenized once, batches by token count), int8 in batches of 16 and
32, one two-threaded int8 session, and torch bfloat16. Then ONNX Runtime's own profile of the int8 model: time per
operator type. Prints texts/s and labels that differ from the first variant; never fails on a rate.

    .venv/bin/python benchmarks/sentiment_batching.py --model-dir DIR [--texts 400] [--rounds 2]
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from sentiment_reviews import DEFAULT_DATA


def main(
    model_dir: Annotated[Path, typer.Option(help="A saved classifier folder with model.int8.onnx.")],
    texts: Annotated[int, typer.Option(min=10, help="Reviews to score per variant.")] = 400,
    rounds: Annotated[int, typer.Option(min=1)] = 2,
    data: Annotated[Path, typer.Option(help="The clothing reviews CSV.")] = DEFAULT_DATA,
) -> None:
    import onnxruntime as ort

    from training.sentiment.model.bf16 import Bf16Classifier
    from training.sentiment.model.int8 import INPUTS, MODEL_FILE, Int8Classifier

    raw = pd.read_csv(data)
    raw = raw[raw["Review Text"].notna()]
    sample = (raw["Title"].fillna("") + ". " + raw["Review Text"]).sample(texts, random_state=1).tolist()
    int8 = Int8Classifier(model_dir)

    def before() -> np.ndarray:  # what int8 did before: each character-sorted batch tokenized on its own
        def batch(idx: np.ndarray) -> np.ndarray:
            enc = int8.tokenizer(
                [sample[i] for i in idx], padding=True, truncation=True, max_length=int8.max_length, return_tensors="np"
            )
            logits = int8.session.run(None, {name: enc[name].astype(np.int64) for name in INPUTS})[0]
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            return p[:, 1] / p.sum(axis=1)

        return int8.batched(np.array([len(t) for t in sample]), batch, 8)

    threaded = Int8Classifier(model_dir)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    threaded.session = ort.InferenceSession(str(model_dir / MODEL_FILE), options, providers=["CPUExecutionProvider"])
    threaded.workers = 1
    bf16 = Bf16Classifier.load(model_dir)
    variants: dict[str, Callable[[], np.ndarray]] = {
        "int8, per-batch tokens, by characters (before)": before,
        "int8, tokenized once, by tokens, 8 (now)": lambda: int8.scores(sample, 8),
        "int8, by tokens, batches of 16": lambda: int8.scores(sample, 16),
        "int8, by tokens, batches of 32": lambda: int8.scores(sample, 32),
        "int8, one session of 2 threads, 32": lambda: threaded.scores(sample, 32),
        "torch bfloat16": lambda: bf16.scores(sample),
    }
    tokens = np.array(
        [len(ids) for ids in int8.tokenizer(sample, truncation=True, max_length=int8.max_length)["input_ids"]]
    )
    typer.echo(f"{texts} reviews, mean {tokens.mean():.0f} tokens (budget {int8.max_length}); {os.cpu_count()} CPUs")
    reference: np.ndarray | None = None
    for turn in range(rounds):
        for name, score in variants.items():
            started = time.perf_counter()
            p = score()
            rate = texts / (time.perf_counter() - started)
            reference = p if reference is None else reference
            differ = int(np.sum((p >= 0.5) != (reference >= 0.5)))
            typer.echo(f"round {turn + 1}  {name:48} {rate:8.1f} texts/s  {differ} labels differ")

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.enable_profiling = True
    int8.session = ort.InferenceSession(str(model_dir / MODEL_FILE), options, providers=["CPUExecutionProvider"])
    int8.workers = 1
    started = time.perf_counter()
    profiled = sample[:150]
    int8.scores(profiled)
    seconds = time.perf_counter() - started
    events = json.loads(Path(int8.session.end_profiling()).read_text())
    by_op: Counter[str] = Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"]
    total = sum(by_op.values()) / 1e6
    typer.echo(f"\nint8 profile, {len(profiled)} reviews on one thread: {seconds:.2f}s scoring, operators {total:.2f}s")
    for op, micros in by_op.most_common(10):
        typer.echo(f"  {op:28} {micros / 1e6:7.2f}s {micros / 1e6 / total:6.1%}")


if __name__ == "__main__":
    typer.run(main)
