"""One settings class for the whole service; values come from RETAIL_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, PositiveInt, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Requests each API key may make, by its role, and each client address without a valid key ("anonymous"): a
# `limits` rate (sliding window, counted per worker process; serving.guard). Generous, so that tools, test suites
# and contract runs never meet them; tighten them where the service faces the internet (docs/guides/ops.md, "Limits"):
# RETAIL_RATE_LIMITS='{"customer": "5/second", "anonymous": "60/minute"}' overrides the roles it names.
RATE_LIMITS = {
    "admin": "60000/minute",
    "ops": "60000/minute",
    "app": "60000/minute",
    "store": "12000/minute",
    "sales_rep": "6000/minute",
    "marketing": "6000/minute",
    "planner": "6000/minute",
    "customer": "600/minute",
    "anonymous": "3000/minute",
}


class LoyaltyTier(BaseModel):
    """One tier of the loyalty programme (serving.commerce.loyalty)."""

    name: str
    min_spend_cents: int = Field(ge=0, description="Paid spend in the window (cents) that reaches this tier.")
    multiplier: float = Field(gt=0)


LOYALTY_TIERS = (
    LoyaltyTier(name="bronze", min_spend_cents=0, multiplier=1.0),
    LoyaltyTier(name="silver", min_spend_cents=50_000, multiplier=1.25),
    LoyaltyTier(name="gold", min_spend_cents=150_000, multiplier=1.5),
)


def ordered_tiers(tiers: tuple[LoyaltyTier, ...]) -> tuple[LoyaltyTier, ...]:
    """The tiers, if the first starts at a spend of 0 and each starts above the one before."""
    if not tiers or tiers[0].min_spend_cents != 0:
        raise ValueError("the first tier must start at a spend of 0")
    if any(a.min_spend_cents >= b.min_spend_cents for a, b in zip(tiers, tiers[1:], strict=False)):
        raise ValueError("tiers must be in increasing order of min_spend_cents")
    return tiers


class Settings(BaseSettings):
    """Where the workspace lives and which backing services it uses."""

    model_config = SettingsConfigDict(env_prefix="RETAIL_", extra="ignore")

    workspace: Path = Path(".")
    online_store: Literal["sqlite", "redis"] = "sqlite"
    redis_url: str = "localhost:6379"
    tracking_uri: str | None = None  # an MLflow tracking server; default is the workspace's SQLite store
    seed: int = 0
    holiday_country: str = "GB"  # public holidays for demand forecasts (ISO code, as the `holidays` package knows it)
    database_url: str | None = None  # the application database; default: SQLite at <workspace>/data/app.db
    push_features: bool = True  # order events push the customer's features to the online store (serving.commerce.push)
    retry_after_s: PositiveInt = 5  # the Retry-After of a 503 while the database or online store is down
    sentiment_runtime: Literal["auto", "bf16", "int8", "fp32"] = "auto"  # see training.sentiment.model
    idempotency_hours: float = Field(default=24.0, gt=0)  # an Idempotency-Key may be reused after this long
    webhook_max_attempts: PositiveInt = 24  # tries before a delivery is dead-lettered (~2.5 h of backoff)
    webhook_retention_days: PositiveInt = 90  # delivered outbox entries (and customers' notifications) kept this long
    max_body_bytes: PositiveInt = 1_048_576  # larger request bodies answer 413 (/sentiment allows its own maximum)
    rate_limits: dict[str, str] = Field(default_factory=dict)  # per-role overrides of RATE_LIMITS (JSON in the env)
    verbose: bool = False  # `1` logs the CLI's commands at DEBUG (retail.cliopts)
    session_hours: float = Field(default=8.0, gt=0)  # a staff page sign-in lasts this long (serving.sessions)
    session_secret: str | None = None  # signs session cookies; default: a random key kept in the workspace
    mlflow_ui_url: str | None = None  # the MLflow UI, linked from the models page when set
    # The loyalty programme (serving.commerce.loyalty): points per currency unit paid (tier 1x), what a point is worth
    # at checkout, when earned points lapse, the spend window that sets the tier, and the tiers (JSON in the env).
    loyalty_points_per_unit: float = Field(default=1.0, gt=0)
    loyalty_point_value_cents: int = Field(default=1, ge=1)
    loyalty_expiry_months: int = Field(default=12, ge=1)
    loyalty_tier_window_days: int = Field(default=365, ge=1)
    loyalty_tiers: tuple[LoyaltyTier, ...] = LOYALTY_TIERS
    # Personal offers (GET /v1/customers/{id}/offers, serving.commerce.offers): days a code stays redeemable, and a
    # discount policy file (YAML or JSON, as `retail campaign build --policy`; default: the documented defaults).
    offer_days: int = Field(default=14, ge=1, le=3650)
    offer_policy: Path | None = None

    @field_validator("verbose", mode="before")
    @classmethod
    def _unset_is_quiet(cls, value: object) -> object:
        return False if value == "" else value  # `RETAIL_VERBOSE=` stays quiet, as it always has

    @field_validator("loyalty_tiers")
    @classmethod
    def _ordered(cls, tiers: tuple[LoyaltyTier, ...]) -> tuple[LoyaltyTier, ...]:
        return ordered_tiers(tiers)


def get_settings(**overrides: object) -> Settings:
    """Read settings now (never at import time) with explicit overrides winning."""
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)  # type: ignore[arg-type]
