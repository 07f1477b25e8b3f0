"""The demand family's training options and default horizon.

Kept apart from `family.py` so that the CLI reads its defaults without importing the model code (`retail --help`
stays fast); `DemandFamily` declares both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from training.demand import frequency
from training.family import Options

HORIZON_DAYS = 28
Freq = str  # a pandas offset alias, checked by `training.demand.frequency`
Level = Literal["product", "product_store"]


class DemandOptions(Options):
    freq: Freq = Field(default="D", description=f"The series' frequency: {frequency.WORKSPACE}.")
    level: Level = Field(default="product", description="Series per product or store.")
    series: int = Field(default=500, ge=1, description="Fit on this many series with the most units.")
    origins: int = Field(default=3, ge=1, description="Backtest origins, H apart, the last at T - H.")
    country: str | None = Field(default=None, description="Holiday country (default: the settings').")

    @field_validator("freq")
    @classmethod
    def _known_freq(cls, value: str) -> str:
        return frequency.workspace(value)
