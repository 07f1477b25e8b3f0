"""Time splits: cutoffs whose labels never reach past the moment a model is trained at."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class CutoffPlan:
    """Training cutoffs, the evaluation cutoff and the horizon their labels span."""

    train: list[pd.Timestamp]
    evaluation: pd.Timestamp
    horizon: pd.Timedelta


def plan_cutoffs(
    as_of: pd.Timestamp,
    horizon_days: int,
    n_train: int = 4,
    step_days: int = 30,
    data_start: pd.Timestamp | None = None,
    min_history_days: int = 30,
) -> CutoffPlan:
    """Evaluation at as_of - H (labels end by as_of); training cutoffs end their labels by the evaluation."""
    horizon = pd.Timedelta(days=horizon_days)
    evaluation = pd.Timestamp(as_of).floor("D") - horizon
    first = evaluation - horizon
    train = [first - pd.Timedelta(days=step_days * k) for k in range(n_train)]
    if data_start is not None:
        earliest = pd.Timestamp(data_start) + pd.Timedelta(days=min_history_days)
        train = [c for c in train if c >= earliest]
    if not train:
        raise ValueError(
            f"as_of {as_of:%Y-%m-%d} with horizon {horizon_days} days leaves no training cutoff with "
            f"{min_history_days} days of history after {data_start}: use a later --as-of or shorter horizon"
        )
    return CutoffPlan(train=sorted(train), evaluation=evaluation, horizon=horizon)
