"""The on-disk layout of a workspace: everything one run of the service reads or writes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Workspace:
    """Paths under one workspace root; creating them is explicit (see `ensure`)."""

    root: Path

    @classmethod
    def at(cls, root: Path | str) -> Workspace:
        return cls(Path(root).expanduser().resolve())

    @property
    def raw_dir(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def features_dir(self) -> Path:
        return self.root / "data" / "features"

    @property
    def feature_repo(self) -> Path:
        return self.root / "feature_repo"

    @property
    def mlruns(self) -> Path:
        return self.root / "mlruns"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def meta_file(self) -> Path:
        return self.features_dir / "meta.json"

    def ensure(self) -> Workspace:
        for path in (self.raw_dir, self.features_dir, self.feature_repo, self.mlruns):
            path.mkdir(parents=True, exist_ok=True)
        return self

    def raw_table(self, name: str) -> Path:
        return self.raw_dir / f"{name}.parquet"

    def read_raw(self, name: str, columns: list[str] | None = None) -> pd.DataFrame | None:
        """A raw table, or None when the workspace has none (every table but transactions is optional)."""
        path = self.raw_table(name)
        return pd.read_parquet(path, columns=columns) if path.exists() else None

    def read_transactions(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Transactions, the one required table; a clear error when the workspace has none yet."""
        tx = self.read_raw("transactions", columns or ["order_id", "customer_id", "product_id", "ts", "quantity"])
        if tx is None:
            raise FileNotFoundError(f"no transactions in {self.raw_dir}: import or simulate data first")
        return tx

    def read_meta(self) -> dict[str, Any]:
        if not self.meta_file.exists():
            return {}
        return json.loads(self.meta_file.read_text())

    def write_meta(self, **values: Any) -> None:
        from retail.files import atomic_write

        text = json.dumps(self.read_meta() | values, indent=2, default=str)
        atomic_write(self.meta_file, lambda tmp: tmp.write_text(text))
