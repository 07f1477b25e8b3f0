"""`retail predict` after a training that registered only @challenger: what happened, what to do, and `--alias`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from clirun import ok, retail
from mlflow import MlflowClient

from retail.settings import Settings
from retail.workspace import Workspace
from training import families, tracking

pytestmark = pytest.mark.integration


def _client(ws: Workspace) -> MlflowClient:
    return tracking.connect(ws, Settings(workspace=ws.root))


@pytest.fixture(scope="module")
def copy(built, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A copy of the shared workspace; each family's champion is also @challenger, but the recommender's, which
    is left as a training that lost to popularity in cross_sell leaves it: @challenger only, its losses tagged."""
    root = tmp_path_factory.mktemp("alias") / "ws"
    shutil.copytree(built.ws.root, root)
    ws = Workspace.at(root)
    client = _client(ws)
    for name in families.names():
        version = tracking.alias_version(client, name, tracking.CHAMPION)
        assert version is not None, name
        client.set_registered_model_alias(name, tracking.CHALLENGER, version)
    version = tracking.alias_version(client, "recommender", tracking.CHAMPION)
    assert version is not None
    metrics = client.get_run(client.get_model_version("recommender", version).run_id).data.metrics
    lost = metrics | {"model_new_recall_at_10": metrics["popularity_new_recall_at_10"] - 0.002}
    losses = families.family("recommender").baseline_losses(lost)  # what the runner tags such a version with
    assert any("below popularity" in loss for loss in losses)
    tracking.tag_version(client, "recommender", version, **{tracking.BASELINE_TAG: "; ".join(losses)})
    client.delete_registered_model_alias("recommender", tracking.CHAMPION)
    return ws


def test_predict_without_a_champion_says_what_happened_and_what_to_do(copy: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "recs.csv"
    result = retail("predict", "recommender", "--workspace", copy.root, "--out", out)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit) and not out.exists()
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.output and sum(line.startswith("error:") for line in lines) == 1
    version = tracking.alias_version(_client(copy), "recommender", tracking.CHALLENGER)
    assert lines[0] == "error: no recommender version is @champion"
    assert f"version {version} is @challenger: it lost to a baseline on its evaluation" in lines
    assert any("(cross_sell) below popularity" in line and "model_new_recall_at_10" in line for line in lines)
    advice = lines[-1]
    assert "`--alias challenger`" in advice and "`retail models promote recommender --force`" in advice


def test_alias_challenger_serves_the_version_that_lost(copy: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "recs.csv"
    said = ok("predict", "recommender", "--workspace", copy.root, "--out", out, "--alias", "challenger")
    frame = pd.read_csv(out, dtype={"customer_id": str, "product_id": str})
    assert said.startswith(f"wrote {len(frame):,} rows for ") and frame["customer_id"].nunique() >= 100
    assert set(frame["rank"]) == set(range(1, 11))


@pytest.mark.parametrize("name", ["churn", "demand", "sentiment"])
def test_every_family_predicts_with_alias_and_names_the_others_when_missing(
    copy: Workspace, tmp_path: Path, name: str
) -> None:
    out = tmp_path / "scores.csv"
    extra: list[str | Path] = []
    if name == "sentiment":
        texts = tmp_path / "texts.csv"
        pd.DataFrame({"text": ["Lovely fit, I wear it daily.", "Torn after one wash, very poor."]}).to_csv(texts)
        extra = ["--in", texts]
    ok("predict", name, "--workspace", copy.root, "--out", out, "--alias", "challenger", *extra)
    assert len(pd.read_csv(out)) >= 2
    missing = retail("predict", name, "--workspace", copy.root, "--out", tmp_path / "none.csv", "--alias", "nope")
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    version = tracking.alias_version(_client(copy), name, tracking.CHAMPION)
    lines = missing.stderr.splitlines()
    assert lines[0] == f"error: no {name} version is @nope"
    for alias in ("champion", "challenger"):  # (a champion forced in over a baseline also says it lost)
        assert any(line.startswith(f"version {version} is @{alias}") for line in lines), (alias, lines)
    assert "`--alias champion`" in lines[-1] and "promote" not in lines[-1]  # promoting does not make an alias


def test_train_reports_each_modes_decision_with_its_interval(built) -> None:
    """The lines `retail train recommender` prints after its summary, read back from the run it logged."""
    from training.recommend.cli import decisions

    client = _client(built.ws)
    version = tracking.alias_version(client, "recommender", tracking.CHAMPION)
    assert version is not None
    run_id = client.get_model_version("recommender", version).run_id
    lines = decisions(built.ws.root, run_id)
    assert lines[0] == "per mode, for requests without a cart:"
    modes = {line.split(":")[0].strip(): line for line in lines[1:]}
    assert set(modes) == {"all", "cross_sell"}
    for line in modes.values():
        assert "held-out customers" in line and ("90% interval" in line or "too few to judge" in line), line
