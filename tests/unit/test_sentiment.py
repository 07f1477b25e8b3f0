"""Sentiment family pieces on tiny data: labels from ratings, the split, batching, figures, and a tiny fine-tune."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from features.contract import DataError
from training.sentiment import dataset, evaluate
from training.sentiment.evaluate import first_sentence, probe
from training.sentiment.model import runtime
from training.sentiment.model.bf16 import Bf16Classifier
from training.sentiment.model.classifier import Classifier, Tuning, fine_tune, length_batches, token_budget
from training.sentiment.model.int8 import Int8Classifier, export
from training.sentiment.options import SentimentOptions
from training.sentiment.pyfunc import ARTIFACT, SentimentModel


def test_ratings_become_labels_and_three_is_left_out() -> None:
    frame = pd.DataFrame({"text": ["great", "awful", "meh", "  ", "fine"], "rating": ["5", "1", "3", "4", 4]})
    out = dataset.from_ratings(frame, "r.csv")
    assert out["text"].tolist() == ["great", "awful", "fine"]  # rating 3 and blank text dropped
    assert out["label"].tolist() == [1, 0, 1]


def test_words_as_labels() -> None:
    out = dataset.from_ratings(pd.DataFrame({"text": ["a", "b"], "label": ["Positive", "negative "]}), "f.csv")
    assert out["label"].tolist() == [1, 0]


@pytest.mark.parametrize(
    ("frame", "column", "row", "words"),
    [
        (pd.DataFrame({"text": ["a", "b"], "rating": [5, 7]}), "rating", 2, "got 7"),
        (pd.DataFrame({"text": ["a", "b"], "rating": [5, "x"]}), "rating", 2, "got 'x'"),
        (pd.DataFrame({"text": ["a", "b"], "label": ["positive", "meh"]}), "label", 2, "got 'meh'"),
        (pd.DataFrame({"review": ["a"], "rating": [5]}), "text", None, "missing column"),
        (pd.DataFrame({"text": ["a", "b"], "rating": [5, 4]}), "label", None, "both positive and negative"),
    ],
)
def test_bad_files_are_refused_naming_the_place(frame, column, row, words) -> None:
    with pytest.raises(DataError) as caught:
        dataset.from_ratings(frame, "mine.csv")
    assert caught.value.column == column and caught.value.row == row and words in str(caught.value)
    assert "mine.csv" in str(caught.value)


def test_no_text_or_rating_column() -> None:
    with pytest.raises(DataError, match="needs a 'rating'"):
        dataset.from_ratings(pd.DataFrame({"text": ["a"]}), "f.csv")


def test_split_is_stratified_and_seeded() -> None:
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(100)], "label": [0] * 20 + [1] * 80})
    train, test = dataset.split_reviews(frame, seed=0)
    assert len(test) == 20 and test["label"].sum() == 16
    assert set(train["text"]).isdisjoint(test["text"])
    again, _ = dataset.split_reviews(frame, seed=0)
    assert again.equals(train)


def test_fingerprints_tell_texts_apart() -> None:
    a = dataset.fingerprints(pd.Series(["x", "y", "x"]))
    assert a[0] == a[2] != a[1]


def test_length_batches_cover_every_row_once() -> None:
    lengths = np.array([5, 1, 9, 3, 7, 2, 8])
    sorted_batches = length_batches(lengths, 3, None)
    assert [lengths[b].tolist() for b in sorted_batches] == [[1, 2, 3], [5, 7, 8], [9]]
    shuffled = length_batches(lengths, 2, np.random.default_rng(0))
    assert sorted(np.concatenate(shuffled).tolist()) == list(range(7))


def test_figures_count_the_negative_class() -> None:
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.9, 0.8, 0.7, 0.6, 0.9, 0.4])
    found = evaluate.figures(y, p)
    assert found["accuracy"] == pytest.approx(6 / 8)
    assert found["negative_recall"] == pytest.approx(2 / 3)
    assert 0 < found["macro_f1"] < 1 and 0 < found["auc"] <= 1


def test_first_sentence_is_the_title() -> None:
    out = first_sentence(pd.Series(["Love it! Fits well. Great.", "No stop here", "Hmm... ok", ". Untitled. Rest"]))
    assert out.tolist() == ["Love it!", "No stop here", "Hmm...", "Untitled."]


def test_probe_is_balanced_short_text() -> None:
    found = probe()
    assert len(found) >= 50 and 0.4 < found["label"].mean() < 0.6
    assert found["text"].str.split().str.len().median() <= 6


TINY = [
    ("I love this, wonderful and great", 1),
    ("great quality, really happy", 1),
    ("excellent, would buy again", 1),
    ("fantastic value, love it", 1),
    ("terrible, it broke at once", 0),
    ("awful quality, very disappointed", 0),
    ("horrible, waste of money", 0),
    ("bad, returned it, never again", 0),
]


@pytest.fixture(scope="module")
def tiny_classifier() -> Classifier:
    texts, labels = zip(*(TINY * 4), strict=True)
    return fine_tune(list(texts), np.array(labels), Tuning(epochs=4, batch_size=8, max_length=16), seed=0)


@pytest.fixture(scope="module")
def saved_and_exported(tiny_classifier: Classifier, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny classifier's artifact folder, saved and exported once (each runtime only reads it)."""
    folder = tmp_path_factory.mktemp("sentiment")
    tiny_classifier.save(folder)
    export(folder)
    return folder


def test_a_tiny_fine_tune_learns_its_examples(tiny_classifier: Classifier) -> None:
    p = tiny_classifier.scores([t for t, _ in TINY])
    y = np.array([label for _, label in TINY])
    assert p[y == 1].min() > p[y == 0].max()
    assert tiny_classifier.max_length == 16


def test_token_budget_follows_the_data(tiny_classifier: Classifier) -> None:
    short = token_budget(tiny_classifier.tokenizer, ["a b c"] * 50)
    long = token_budget(tiny_classifier.tokenizer, [" ".join(["word"] * 150)] * 50)
    assert short == 32 and 144 <= long <= 256 and long % 16 == 0


def test_scores_keep_the_input_order(tiny_classifier: Classifier) -> None:
    texts = [t for t, _ in TINY]
    one_by_one = np.array([tiny_classifier.scores([t])[0] for t in texts])
    np.testing.assert_allclose(tiny_classifier.scores(texts, batch_size=3), one_by_one, atol=1e-5)


@pytest.mark.parametrize("runtime, kind", [("int8", Int8Classifier), ("bf16", Bf16Classifier)])
def test_pyfunc_round_trip_through_its_artifact_folder(
    tiny_classifier: Classifier, saved_and_exported: Path, monkeypatch: pytest.MonkeyPatch, runtime: str, kind: type
) -> None:
    class Ctx:
        artifacts = {ARTIFACT: str(saved_and_exported)}

    texts = pd.DataFrame({"text": [t for t, _ in TINY]})
    full, reduced = SentimentModel(int8=False), SentimentModel(int8=True)
    full.load_context(Ctx())
    monkeypatch.setenv("RETAIL_SENTIMENT_RUNTIME", runtime)
    reduced.load_context(Ctx())
    out = full.predict(None, texts)
    assert list(out.columns) == ["label", "score"]
    np.testing.assert_allclose(out["score"], tiny_classifier.scores(texts["text"].tolist()), atol=1e-6)
    assert (out["label"] == np.where(out["score"] >= 0.5, "positive", "negative")).all()
    assert reduced.classifier.max_length == 16
    assert type(reduced.classifier) is kind and type(full.classifier) is Classifier
    assert np.abs(reduced.predict(None, texts)["score"] - out["score"]).max() < 0.1
    import pickle

    assert pickle.loads(pickle.dumps(reduced)).classifier is None  # weights travel as the artifact, not the pickle


def test_the_runtime_follows_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    from training.sentiment.model import bf16, classifier

    monkeypatch.setattr(bf16, "amx", lambda: True)
    assert runtime.runtime(int8=True, exported=True) == "bf16"
    assert runtime.runtime(int8=False, exported=True) == "fp32"  # logged with int8=False: full precision
    assert runtime.runtime(int8=True, exported=True, asked="int8") == "int8"
    monkeypatch.setattr(bf16, "amx", lambda: False)
    assert runtime.runtime(int8=True, exported=True) == "int8"
    assert runtime.runtime(int8=True, exported=False) == "fp32"
    with pytest.raises(ValueError, match="no int8 export"):
        runtime.runtime(int8=True, exported=False, asked="int8")
    monkeypatch.setattr(classifier, "device", lambda: torch.device("cuda"))
    assert runtime.runtime(int8=True, exported=True) == "fp32"  # the torch model on the GPU


def test_a_small_call_is_shared_by_every_worker() -> None:
    from training.sentiment.model.classifier import Scorer

    class Counting(Scorer):
        batch_size, workers = 64, 2

        def __init__(self) -> None:
            self.sizes: list[int] = []

        def positive(self, batch: list[str]) -> np.ndarray:
            self.sizes.append(len(batch))
            return np.array([len(t) / 100 for t in batch])

    texts = ["x" * n for n in (5, 40, 7, 33, 12, 9, 50, 21)]
    scorer = Counting()
    np.testing.assert_allclose(scorer.scores(texts), [len(t) / 100 for t in texts])
    assert sorted(scorer.sizes) == [4, 4]  # two batches of similar lengths, one per worker
    scorer.sizes.clear()
    scorer.scores(texts, batch_size=8)
    assert scorer.sizes == [8]


def test_a_broken_batcher_call_is_scored_in_process() -> None:
    """A dropped connection to the batcher is no failed request: the texts are scored in the service's process."""
    import asyncio
    from types import SimpleNamespace

    import aiohttp
    import numpy as np

    from serving.endpoints.sentiment import _scores

    async def dropped(texts: list[str]) -> list[float]:
        raise aiohttp.ServerDisconnectedError()

    remote = SimpleNamespace(to_async=SimpleNamespace(classify=dropped))
    adapter = SimpleNamespace(scores=lambda texts: np.full(len(texts), 0.75))
    assert asyncio.run(_scores(remote, adapter, ["a", "b"])) == [0.75, 0.75]
    assert asyncio.run(_scores(None, adapter, ["a"])) == [0.75]


def _threads_in_a_new_thread() -> int:
    """torch's threads as a thread started now gets them (torch sets a new thread up from the process setting)."""
    import threading

    found: list[int] = []
    thread = threading.Thread(target=lambda: found.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    return found[0]


def test_bf16_scoring_leaves_torch_s_threads_as_they_were_under_concurrent_calls(
    tiny_classifier: Classifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two calls that overlap (the second starts in a new thread while the first is scoring, the first ends
    first), then many concurrent calls: torch's thread count is what it was, for this thread and for threads
    started afterwards, and every call scores what it scores alone."""
    import copy
    import threading
    from concurrent.futures import ThreadPoolExecutor

    original = torch.get_num_threads()
    assert _threads_in_a_new_thread() == original
    bf16 = Bf16Classifier(tiny_classifier.tokenizer, copy.deepcopy(tiny_classifier.model), tiny_classifier.max_length)
    texts = [t for t, _ in TINY]
    alone = bf16.scores(texts)
    one = {t: bf16.scores([t])[0] for t in texts[:2]}

    entered = {t: threading.Event() for t in texts[:2]}
    go = {t: threading.Event() for t in texts[:2]}
    score_batch = Classifier.positive

    threads_in_batches: list[int] = []

    def gated(self: Classifier, batch: list[str]) -> np.ndarray:
        threads_in_batches.append(torch.get_num_threads())  # each batch on one core
        if batch[0] in go:
            entered[batch[0]].set()
            go[batch[0]].wait(60)
        return score_batch(self, batch)

    monkeypatch.setattr(Classifier, "positive", gated)
    found: dict[str, float] = {}
    first = threading.Thread(target=lambda: found.update(a=bf16.scores([texts[0]])[0]))
    second = threading.Thread(target=lambda: found.update(b=bf16.scores([texts[1]])[0]))
    try:
        first.start()
        assert entered[texts[0]].wait(60)
        second.start()  # a new thread, while the first call is scoring
        assert entered[texts[1]].wait(60)
        go[texts[0]].set()
        first.join(60)
    finally:
        for event in go.values():
            event.set()
    second.join(60)
    assert (found["a"], found["b"]) == (one[texts[0]], one[texts[1]])
    assert torch.get_num_threads() == original and _threads_in_a_new_thread() == original

    calls = [texts, texts[:1], texts[3:], texts] * 4
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(bf16.scores, calls))
    monkeypatch.undo()
    assert threads_in_batches and set(threads_in_batches) == {1}
    for call, result in zip(calls, results, strict=True):
        np.testing.assert_allclose(result, bf16.scores(call), atol=1e-6)
    np.testing.assert_allclose(results[0], alone, atol=1e-6)
    assert torch.get_num_threads() == original and _threads_in_a_new_thread() == original


def _write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_parquet(path, index=False) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
    return path


def _source_files(folder: Path) -> list[Path]:
    """A rated CSV (rating 3 five times) and a parquet of tweets labelled by word in `sentiment` (5 neutral)."""
    reviews = pd.DataFrame(
        {"text": [f"review {i}" for i in range(30)], "rating": [5, 4, 1, 2, 3] * 4 + [5, 4, 5, 4, 3, 1, 5, 5, 2, 4]}
    )
    words = ["negative", "negative", "positive", "neutral"] * 5 + ["negative"] * 10
    tweets = pd.DataFrame({"text": [f"@air tweet {i}" for i in range(30)], "sentiment": words})
    return [_write(folder / "reviews.csv", reviews), _write(folder / "tweets.parquet", tweets)]


def test_neutral_words_are_left_out_and_counted() -> None:
    frame = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["neutral", "Positive", "negative", " NEUTRAL"]})
    out = dataset.from_ratings(frame, "f.csv")
    assert out["text"].tolist() == ["b", "c"] and out["label"].tolist() == [1, 0]
    assert out.attrs["left_out"] == 2
    rated = dataset.from_ratings(pd.DataFrame({"text": ["a", "b", "c"], "rating": [3, 5, 1]}), "r.csv")
    assert rated.attrs["left_out"] == 1


def test_several_files_are_read_as_sources(tmp_path: Path) -> None:
    frame = dataset.read_sources(_source_files(tmp_path))
    assert frame["source"].value_counts().to_dict() == {"reviews": 30 - 5, "tweets": 30 - 5}
    assert frame.attrs["left_out"] == {"reviews": 5, "tweets": 5}
    tweets = frame[frame["source"] == "tweets"]
    assert tweets["label"].sum() == 5 and "@air tweet 2" in set(tweets.loc[tweets["label"] == 1, "text"])
    lines = dataset.describe(frame).splitlines()
    assert lines[0] == "reviews: 25 labelled texts (10 negative, 15 positive), 5 neutral left out"
    assert lines[1] == "tweets: 25 labelled texts (20 negative, 5 positive), 5 neutral left out"


def test_same_named_files_keep_apart_and_a_file_given_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    files = [_write(tmp_path / d / "r.csv", pd.DataFrame({"text": ["x", "y"], "rating": [5, 1]})) for d in "ab"]
    assert dataset.source_names(files) == [str(files[0]), str(files[1])]
    with pytest.raises(ValueError, match="given twice"):
        dataset.read_sources([files[0], files[0]])
    bad = _write(tmp_path / "bad.csv", pd.DataFrame({"text": ["x"], "label": ["meh"]}))
    with pytest.raises(DataError, match="bad.csv"):
        dataset.read_sources([files[0], bad])


def test_each_source_keeps_its_own_stratified_split(tmp_path: Path) -> None:
    frame = dataset.read_sources(_source_files(tmp_path))
    train, test = dataset.split_sources(frame, seed=0)
    for name, part in frame.groupby("source"):
        alone_train, alone_test = dataset.split_reviews(part.drop(columns="source").reset_index(drop=True), 0)
        assert test.loc[test["source"] == name, "text"].tolist() == alone_test["text"].tolist()
        assert train.loc[train["source"] == name, "text"].tolist() == alone_train["text"].tolist()
    assert set(train["text"]).isdisjoint(test["text"]) and len(train) + len(test) == len(frame)
    small = pd.DataFrame({"text": list("abcdefghijkl"), "label": [1, 0] * 6, "source": ["big"] * 10 + ["tiny"] * 2})
    with pytest.raises(ValueError, match="tiny: too few labelled texts"):
        dataset.split_sources(small, 0)


def test_figures_per_source_are_each_source_s_own() -> None:
    test = pd.DataFrame({"label": [1, 0, 1, 1, 0, 0, 0], "source": ["a", "a", "a", "b", "b", "b", "b"]})
    p = np.array([0.9, 0.6, 0.8, 0.2, 0.1, 0.3, 0.7])
    found = evaluate.per_source(test, {"model": p, "vader": 1 - p}, {"vader": 0.5})
    assert found["source_a_rows"] == 3 and found["source_b_rows"] == 4
    assert found["source_a_model_accuracy"] == pytest.approx(2 / 3)
    assert found["source_b_model_negative_recall"] == pytest.approx(2 / 3)
    assert found["source_b_vader_accuracy"] == pytest.approx(2 / 4)
    assert found["source_b_majority_accuracy"] == pytest.approx(3 / 4)
    assert evaluate.per_source(test.drop(columns="source"), {"model": p}, {}) == {}
    assert evaluate.source_key("my file/x.csv") == "source_my_file_x.csv_"


def test_train_sentiment_takes_reviews_repeated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from retail.cli import app
    from training.sentiment import cli

    files = _source_files(tmp_path)
    seen: list = []
    metrics = {
        f"source_{name}_{key}": value
        for name in ("reviews", "tweets")
        for key, value in (("rows", 5.0), ("model_accuracy", 0.9), ("model_macro_f1", 0.8))
        + (("model_negative_recall", 0.7), ("vader_accuracy", 0.6), ("majority_accuracy", 0.5))
    }

    def fake(name, ws, as_of, horizon, options):  # noqa: ANN001, ANN202
        seen.append(options)
        return type("Result", (), {"metrics": metrics})()

    monkeypatch.setattr(cli, "train_and_report", fake)
    args = ["train", "sentiment", "--reviews", str(files[0]), "--reviews", str(files[1]), "-w", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert seen[0].reviews == files and seen[0].test == []
    assert "5 neutral left out" in result.output
    assert "tweets (5 held out): accuracy 0.900, macro-F1 0.800, neg. recall 0.700" in result.output
    bad = _write(tmp_path / "bad.csv", pd.DataFrame({"text": ["x", "y"], "rating": [5, 9]}))
    refused = CliRunner().invoke(app, [*args[:4], "--reviews", str(bad), "-w", str(tmp_path)])
    assert refused.exit_code == 1 and len(seen) == 1
    assert "bad.csv row 2, column rating" in refused.output and "Traceback" not in refused.output
    held = CliRunner().invoke(app, [*args[:4], "--test", str(files[1]), "-w", str(tmp_path)])
    assert held.exit_code == 0 and seen[1].reviews == files[:1] and seen[1].test == files[1:]


def test_given_test_files_are_held_out_and_every_review_trains(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from training.family import Split

    files = _source_files(tmp_path)
    ctx = SimpleNamespace(progress=lambda _: None, settings=SimpleNamespace(seed=0))
    options = SentimentOptions(reviews=files[:1], test=files[1:])
    day, horizon = pd.Timestamp("2024-01-01"), pd.Timedelta(days=28)
    split = Split(day - horizon, horizon, day)
    data = dataset.for_split(ctx, split, options)  # type: ignore[arg-type]
    assert len(data.train) == 25 and set(data.test["source"]) == {"tweets"} and len(data.test) == 25
    refit = dataset.for_split(ctx, Split(day, horizon), options)  # type: ignore[arg-type]
    assert len(refit.train) == 25 + 25 and refit.test is None
    split_data = dataset.for_split(ctx, split, SentimentOptions(reviews=files))  # type: ignore[arg-type]
    assert split_data.test.groupby("source").size().to_dict() == {"reviews": 5, "tweets": 5}
    assert data.params["left_out"] == 5


def test_int8_scoring_in_token_sorted_batches_keeps_the_labels(saved_and_exported: Path) -> None:
    """Every text tokenized at once and batched by token count: the same labels (and nearly the same scores) as
    scoring each text alone, in the callers' order, with and without sharing the work between workers."""
    scorer = Int8Classifier(saved_and_exported)
    texts = [t for t, _ in TINY] + ["ok", "a much longer text that is wonderful, great and fantastic value"]
    texts = texts[::-1]
    alone = np.array([scorer.positive([t])[0] for t in texts])
    for workers, size in ((1, 3), (2, 4), (2, None)):
        scorer.workers = workers
        together = scorer.scores(texts, batch_size=size)
        np.testing.assert_allclose(together, alone, atol=0.02)
        assert ((together >= 0.5) == (alone >= 0.5)).all()
    assert len(scorer.scores([])) == 0


def test_options_take_one_file_none_or_several(tmp_path: Path) -> None:
    one = tmp_path / "a.csv"
    assert SentimentOptions(reviews=one).reviews == [one]  # type: ignore[arg-type]  # as a notebook passes it
    assert SentimentOptions(reviews=None).reviews == []  # type: ignore[arg-type]
    assert SentimentOptions(reviews=[one, one.with_name("b.csv")], test=str(one)).test == [one]  # type: ignore[arg-type]
