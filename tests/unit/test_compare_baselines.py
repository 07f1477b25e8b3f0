"""Which baselines the comparison table reports: those a run logged every score for."""

from __future__ import annotations

from training.compare import baselines

SCORES = ["auc", "pr_auc", "brier"]


def test_baselines_are_the_runs_complete_score_sets_other_than_the_model_and_refit() -> None:
    logged = {
        f"{name}_{score}": 0.5
        for name in ("model", "recency", "rfm_logistic", "refit_train")
        for score in ("auc", "pr_auc", "brier", "positive_rate")
    }
    assert baselines(logged, SCORES) == ["recency", "rfm_logistic"]


def test_a_partly_logged_baseline_is_left_out() -> None:
    assert baselines({"recency_auc": 0.6, "recency_brier": 0.2, "model_auc": 0.7, "model_pr_auc": 0.8}, SCORES) == []
