"""Recommender versions through the registry: champion/challenger on the same held-out period, or refused."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from retail.settings import Settings
from retail.workspace import Workspace
from training import promotion, tracking
from training.recommend.compare import NotComparable
from training.recommend.rerank import RerankConfig
from training.recommend.train import train_recommender

pytestmark = pytest.mark.integration
LIGHT = RerankConfig(n_estimators=40, learning_rate=0.1, earlier_cutoffs_days=(), cart_sessions=200)


@pytest.fixture(scope="module")
def copy(built, tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Settings]:
    root = tmp_path_factory.mktemp("registry") / "ws"
    shutil.copytree(built.ws.root, root)
    return Workspace.at(root), Settings(workspace=root)


def test_versions_compare_only_without_overlap(copy: tuple[Workspace, Settings], built) -> None:
    ws, settings = copy
    client = tracking.connect(ws, settings)
    data_end = pd.Timestamp(built.ws.read_meta()["data_end"])
    earlier = train_recommender(ws, settings, as_of=data_end - pd.Timedelta(days=30), horizon_days=30, config=LIGHT)
    assert (earlier.version, earlier.alias) == ("2", "challenger")
    run = client.get_run(earlier.run_id)
    assert run.data.params["as_of"] == f"{data_end - pd.Timedelta(days=30):%Y-%m-%d}"
    assert run.data.metrics["model_all_recall_at_10"] > run.data.metrics["popularity_all_recall_at_10"]

    # the champion (v1) learnt from v2's held-out period: comparing would flatter it
    with pytest.raises(NotComparable, match="inside challenger v2's held-out period"):
        promotion.promote(client, "recommender")
    assert tracking.alias_version(client, "recommender", "champion") == "1"
    assert promotion.promote(client, "recommender", force=True).champion == "2"

    # a newer challenger is judged against the older champion on the newer one's held-out period
    newer = train_recommender(ws, settings, horizon_days=30, config=LIGHT)
    decision = promotion.promote(client, "recommender")
    assert decision.metric == "recall@10" and decision.challenger_score is not None
    assert decision.challenger_score == pytest.approx(newer.metrics["model_all_recall_at_10"])
    expected = newer.version if decision.challenger_score > decision.champion_score else "2"
    assert tracking.alias_version(client, "recommender", "champion") == expected
