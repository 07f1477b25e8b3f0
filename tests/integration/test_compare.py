"""compare_with_champion and versions_frame on the shared workspace's registry (read only).

The champion-against-new case runs in tests/integration/test_notebook.py, on a copy of the workspace.
"""

from __future__ import annotations

import pytest

from training import tracking
from training.compare import compare_with_champion, evaluation_set, versions_frame

pytestmark = pytest.mark.integration


@pytest.fixture
def client(built):
    return tracking.connect(built.ws, built.settings)


def test_the_champion_compared_with_itself_is_one_model_row_and_the_baselines(client) -> None:
    champion = str(tracking.alias_version(client, "churn", tracking.CHAMPION))
    table = compare_with_champion(client, "churn", champion)

    assert list(table.index) == ["champion", "challenger", "recency", "rfm_logistic"]
    assert list(table.columns) == ["version", "auc", "pr_auc", "brier"]
    assert table.loc["challenger", "version"] == champion and table.loc["recency", "version"] is None
    assert table.loc["champion", "auc"] == table.loc["challenger", "auc"]
    logged = client.get_run(client.get_model_version("churn", champion).run_id).data.metrics
    # the registered model is a refit that saw these rows' labels: the figures are the evaluation fit's, as logged
    assert table.loc["challenger", "auc"] == logged["model_auc"]
    assert table.loc["challenger", "brier"] == logged["model_brier"]
    for name in ("recency", "rfm_logistic"):
        assert table.loc[name, "auc"] == logged[f"{name}_auc"]


def test_evaluation_set_holds_the_features_and_label_of_the_versions_run(client, built) -> None:
    frame = evaluation_set(client, "churn", built.version)
    assert {"customer_id", "cutoff", "as_of_day", "churned"} <= set(frame.columns)
    assert frame["cutoff"].nunique() == 1 and len(frame) > 100


def test_unknown_model_is_refused(client) -> None:
    with pytest.raises(ValueError, match="unknown model"):
        compare_with_champion(client, "nope", "1")


def test_versions_frame_lists_versions_newest_first_with_aliases(client) -> None:
    table = versions_frame(client, "churn")
    assert list(table.columns) == [
        "version",
        "aliases",
        "AUC",
        "PR-AUC",
        "recency",
        "RFM",
        "eval_cutoff",
        "promotion",
        "baseline_check",
    ]
    assert [int(v) for v in table["version"]] == sorted((int(v) for v in table["version"]), reverse=True)
    champion = str(tracking.alias_version(client, "churn", tracking.CHAMPION))
    assert "champion" in table.set_index("version").loc[champion, "aliases"].split(",")
    with pytest.raises(ValueError, match="unknown model 'no-such-model'"):
        versions_frame(client, "no-such-model")
