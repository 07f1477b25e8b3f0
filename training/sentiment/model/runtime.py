"""Which runtime scores the sentiment classifier, and the classifier as the registered pyfunc will serve it.

On a GPU the torch model; on a CPU with AMX the torch model in bfloat16; on other CPUs the int8 ONNX export; full
precision when logged with `int8=False`. RETAIL_SENTIMENT_RUNTIME (bf16, int8 or fp32) overrides.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from retail.settings import get_settings
from training.sentiment.model import bf16, classifier
from training.sentiment.model.bf16 import Bf16Classifier
from training.sentiment.model.classifier import Classifier
from training.sentiment.model.int8 import MODEL_FILE, Int8Classifier, export

_SAVED: dict[int, Path] = {}  # id(classifier) -> its saved (and exported) folder, made once per fit


def runtime(int8: bool, exported: bool, asked: str = "auto") -> str:
    """The runtime to score with: `asked` unless it is auto; else as the module docstring says."""
    if asked == "int8" and not exported:
        raise ValueError("RETAIL_SENTIMENT_RUNTIME=int8, but this model has no int8 export (logged with int8=False)")
    if asked != "auto":
        return asked
    if not int8 or classifier.device().type != "cpu":
        return "fp32"
    if bf16.amx():
        return "bf16"
    return "int8" if exported else "fp32"


def load_scorer(folder: Path, int8: bool, asked: str | None = None) -> Any:
    """The classifier in `folder` in the runtime `runtime` picks (`asked`: default RETAIL_SENTIMENT_RUNTIME)."""
    chosen = runtime(int8, (folder / MODEL_FILE).exists(), asked or get_settings().sentiment_runtime)
    if chosen == "int8":
        return Int8Classifier(folder)
    if chosen == "bf16":
        return Bf16Classifier.load(folder)
    full = Classifier.load(folder)
    full.model.to(classifier.device())
    return full


def saved(model: Classifier, int8: bool) -> Path:
    """The classifier saved to a temporary folder, with its int8 ONNX export when serving in reduced precision."""
    if id(model) not in _SAVED:
        folder = Path(tempfile.mkdtemp(prefix="sentiment-"))
        atexit.register(shutil.rmtree, folder, True)
        model.save(folder)
        if int8:
            export(folder)
        _SAVED[id(model)] = folder
    return _SAVED[id(model)]


def served(model: Classifier, int8: bool) -> Any:
    """What the registered pyfunc will score with: the reduced-precision runtime on CPUs, else the model itself."""
    return load_scorer(saved(model, int8), int8) if int8 else model
