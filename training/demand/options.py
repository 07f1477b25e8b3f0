"""The demand family's training options and default horizon.

Kept apart from `family.py` so that the CLI reads its defaults without importing the model code (`retail --help`
stays fast); `DemandFamily` declares both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from training.family import Options

HORIZON_DAYS = 28
Freq = Literal["D", "W"]
Level = Literal["product", "product_store"]


class DemandOptions(Options):
    freq: Freq = Field(default="D", description="Daily or weekly series.")
    level: Level = Field(default="product", description="Series per product or store.")
    series: int = Field(default=500, ge=1, description="Fit on this many series with the most units.")
    origins: int = Field(default=3, ge=1, description="Backtest origins, H apart, the last at T - H.")
    country: str | None = Field(default=None, description="Holiday country (default: the settings').")
