"""Cutoff plans never let a training label reach the evaluation period or the training date."""

from __future__ import annotations

import pandas as pd
import pytest

from training.splits import plan_cutoffs


def test_protocol_cutoffs_for_online_retail() -> None:
    plan = plan_cutoffs(pd.Timestamp("2011-11-30"), 90, n_train=3, step_days=30)
    assert plan.evaluation == pd.Timestamp("2011-09-01")
    assert max(plan.train) == pd.Timestamp("2011-06-03")
    assert len(plan.train) == 3


@pytest.mark.parametrize("horizon", [7, 30, 90])
def test_labels_end_before_evaluation_and_as_of(horizon: int) -> None:
    as_of = pd.Timestamp("2026-03-15")
    plan = plan_cutoffs(as_of, horizon, n_train=10, step_days=7)
    assert plan.evaluation + plan.horizon <= as_of
    assert all(c + plan.horizon <= plan.evaluation for c in plan.train)


def test_cutoffs_without_history_are_dropped_or_refused() -> None:
    plan = plan_cutoffs(pd.Timestamp("2026-01-01"), 30, n_train=10, step_days=7, data_start=pd.Timestamp("2025-09-01"))
    assert min(plan.train) >= pd.Timestamp("2025-10-01")
    with pytest.raises(ValueError, match="no training cutoff"):
        plan_cutoffs(pd.Timestamp("2026-01-01"), 90, data_start=pd.Timestamp("2025-10-01"))
