"""Logging set-up, called by entry points only (never on import)."""

from __future__ import annotations

import logging


def configure(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("feast", "alembic", "mlflow", "urllib3", "bentoml", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
