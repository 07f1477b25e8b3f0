"""The churn family's training options and default horizon.

Kept apart from `family.py` so that the CLI reads its defaults without importing the model code (`retail --help`
stays fast); `ChurnFamily` declares both.
"""

from __future__ import annotations

from pydantic import Field

from training.family import Options

HORIZON_DAYS = 90  # churned = no purchase within this many days


class ChurnOptions(Options):
    cutoffs: int = Field(default=20, ge=1, description="Weekly training cutoffs.")
    step_days: int = Field(default=7, ge=1, description="Days between training cutoffs.")
    tune: int = Field(default=0, ge=0, description="Optuna trials (nested MLflow runs); 0 = defaults.")
