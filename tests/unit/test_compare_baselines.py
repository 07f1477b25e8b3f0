"""Which baselines the comparison table reports: those a run logged every score for."""

from __future__ import annotations

from training.compare import _baselines


def test_baselines_are_the_runs_complete_score_sets_other_than_the_model() -> None:
    logged = {
        f"{name}_{score}": 0.5
        for name in ("model", "recency", "rfm_logistic")
        for score in ("auc", "pr_auc", "brier", "positive_rate")
    }
    assert _baselines(logged) == ["recency", "rfm_logistic"]


def test_a_partly_logged_baseline_is_left_out() -> None:
    assert _baselines({"recency_auc": 0.6, "recency_brier": 0.2, "model_auc": 0.7, "model_pr_auc": 0.8}) == []
