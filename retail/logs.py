"""Logging set-up, called by entry points only (never on import)."""

from __future__ import annotations

import logging
import warnings

_quiet = False  # set by `configure`: library deprecation notices are for us, not for people running commands


def quiet_libraries() -> None:
    """(Re)install the warning filters; call after importing a library that installs its own (feast does)."""
    if _quiet:
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="mlflow")


def configure(verbose: bool = False) -> None:
    global _quiet
    _quiet = not verbose
    quiet_libraries()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("feast", "alembic", "urllib3", "bentoml", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.ERROR)  # its warnings are about its own API choices
