"""The demand family's tables: stored forecast runs, planners' overrides and their audit trail.

Changing one means adding an Alembic revision under `training/demand/migrations` (see `retail.db`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retail.db import Base


class ForecastRun(Base):
    """One stored batch of demand forecasts: which model made it, as of when, at what level."""

    __tablename__ = "forecast_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version: Mapped[str] = mapped_column(String(32))
    as_of: Mapped[date] = mapped_column(Date)
    level: Mapped[str] = mapped_column(String(16))
    freq: Mapped[str] = mapped_column(String(4))
    source: Mapped[str] = mapped_column(String(16))  # "predict" (CLI export) or "service"
    created_at: Mapped[datetime] = mapped_column(DateTime)
    values: Mapped[list[ForecastValue]] = relationship(back_populates="run", cascade="all, delete-orphan")

    __table_args__ = (Index("ix_forecast_runs_version_as_of", "model_version", "as_of", "level"),)


class ForecastValue(Base):
    """One period of one series in a stored run; `store_id` is empty for product-level rows."""

    __tablename__ = "forecast_values"

    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    store_id: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    ds: Mapped[date] = mapped_column(Date, primary_key=True)
    p10: Mapped[float] = mapped_column(Float)
    p50: Mapped[float] = mapped_column(Float)
    p90: Mapped[float] = mapped_column(Float)
    price: Mapped[float] = mapped_column(Float)
    run: Mapped[ForecastRun] = relationship(back_populates="values")

    __table_args__ = (Index("ix_forecast_values_series", "product_id", "store_id", "ds"),)


class ForecastOverride(Base):
    """A planner's adjustment: every period of [start, end] set to `value` units, or its P50 times `factor`.

    Never updated in place except to close it (a revert sets `reverted_at`). Overrides on the same series may
    overlap: on each day the newest one in force wins, so reverting it brings the earlier one back.
    """

    __tablename__ = "forecast_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[str] = mapped_column(String(64), index=True)
    store_id: Mapped[str] = mapped_column(String(64), default="")
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    factor: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    replaced_value: Mapped[float | None] = mapped_column(Float, nullable=True)  # adjusted units it replaced
    replaced_override_id: Mapped[int | None] = mapped_column(ForeignKey("forecast_overrides.id"), nullable=True)
    reverted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    reverted_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # the API keys that created and reverted it, as they were then (no foreign key: the audit is a snapshot)
    key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    key_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reverted_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reverted_key_name: Mapped[str | None] = mapped_column(String(128), nullable=True)


class AuditEntry(Base):
    """Who did what to which override, when, and the values before and after (JSON); with the API key used."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    author: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime)
    detail: Mapped[str] = mapped_column(Text)
    key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    key_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
