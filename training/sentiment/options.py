"""The sentiment family's training options and default horizon.

Kept apart from `family.py` so that the CLI reads its defaults without importing torch (`retail --help` stays
fast); `SentimentFamily` declares both.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from training.family import Options

# Reviews are split by review, not by date (text has no time-dependent features to leak): the horizon only enters
# the runner's history check and the run's logged parameters.
HORIZON_DAYS = 28


class SentimentOptions(Options):
    reviews: list[Path] = Field(
        default_factory=list, description="CSVs or parquets with text and rating or label, each its own source."
    )
    test: list[Path] = Field(
        default_factory=list,
        description="Labelled files to evaluate on instead of holding out 20% of `reviews` (every review trains).",
    )
    epochs: int | None = Field(default=None, ge=1, description="Passes (default: 1, more on small data).")
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=5e-5, gt=0)
    max_length: int | None = Field(default=None, ge=8, description="Token budget (default: from the data).")
    negative_weight: float = Field(default=1.0, gt=0, description="Loss weight of negative reviews.")
    int8: bool = Field(default=True, description="Serve in reduced precision on CPUs (bfloat16 with AMX, else int8).")
    refit: bool = Field(default=False, description="Fit again on every review before registering.")

    @field_validator("reviews", "test", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        """One file (a path or a string), none, or a list of them: notebooks and scripts pass a single path."""
        if value is None:
            return []
        return [value] if isinstance(value, str | PathLike) else value

    def params(self) -> dict[str, Any]:
        files = {"reviews": ", ".join(map(str, self.reviews)) or "workspace", "test": ", ".join(map(str, self.test))}
        return self.model_dump() | files
