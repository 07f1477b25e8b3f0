"""Recommender versions through the registry: champion/challenger on the same held-out period, or refused."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from retail.settings import Settings
from retail.workspace import Workspace
from training import promotion, run, tracking
from training.family import NotComparable
from training.recommend.family import RecommenderOptions
from training.recommend.rerank import RerankConfig

pytestmark = pytest.mark.integration
LIGHT = RecommenderOptions(
    config=RerankConfig(n_estimators=40, learning_rate=0.1, earlier_cutoffs_days=(), cart_sessions=200)
)


@pytest.fixture(scope="module")
def copy(built, tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Settings]:
    root = tmp_path_factory.mktemp("registry") / "ws"
    shutil.copytree(built.ws.root, root)
    return Workspace.at(root), Settings(workspace=root)


def test_versions_compare_only_without_overlap(copy: tuple[Workspace, Settings], built) -> None:
    ws, settings = copy
    client = tracking.connect(ws, settings)
    data_end = pd.Timestamp(built.ws.read_meta()["data_end"])
    earlier = run.train("recommender", ws, settings, data_end - pd.Timedelta(days=30), 30, LIGHT)
    assert (earlier.version, earlier.alias) == ("2", "challenger")
    logged = client.get_run(earlier.run_id)
    assert logged.data.params["as_of"] == f"{data_end - pd.Timedelta(days=30):%Y-%m-%d}"
    assert logged.data.metrics["model_all_recall_at_10"] > logged.data.metrics["popularity_all_recall_at_10"]

    # the champion (v1) learnt from v2's held-out period: comparing would flatter it
    with pytest.raises(NotComparable, match="inside challenger v2's held-out period"):
        promotion.promote(client, "recommender")
    assert tracking.alias_version(client, "recommender", "champion") == "1"
    assert promotion.promote(client, "recommender", force=True).champion == "2"

    # a newer challenger is judged against the older champion on the newer one's held-out period
    newer = run.train("recommender", ws, settings, None, 30, LIGHT)
    table = promotion.comparison(client, "recommender")
    assert list(table.index) == ["champion", "challenger", "popularity", "repeat_then_popular", "als", "bpr"]
    assert table.loc["challenger", "all_recall_at_10"] == newer.metrics["model_all_recall_at_10"]
    assert table.loc["bpr", "new_recall_at_10"] == newer.metrics["bpr_new_recall_at_10"]
    decision = promotion.promote(client, "recommender")
    if newer.lost:  # a version below one of its baselines is never promoted without --force
        assert not decision.promoted and "lost to a baseline" in decision.reason
        assert tracking.alias_version(client, "recommender", "champion") == "2"
        return
    assert decision.metric == "all_recall_at_10" and decision.challenger_score is not None
    assert decision.challenger_score == pytest.approx(newer.metrics["model_all_recall_at_10"])
    assert decision.champion_score == pytest.approx(table.loc["champion", "all_recall_at_10"])
    expected = newer.version if decision.challenger_score > decision.champion_score else "2"
    assert tracking.alias_version(client, "recommender", "champion") == expected
