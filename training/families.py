"""The registry of model families: one entry per family, the only place that lists them.

Entries name modules rather than import them, so `retail --help` stays fast: a family's code (and its heavy
libraries) loads when a command or the service first needs it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the seam imports mlflow: loaded with the first family, not with `retail --help`
    from training.family import Family


@dataclass(frozen=True)
class Entry:
    name: str  # registered model name
    package: str  # training package holding family.py (class FAMILY) and cli.py (train, predict)
    endpoint: str  # serving module with its `router`: plain functions (`score`) and thin routes over them


REGISTRY: dict[str, Entry] = {
    entry.name: entry
    for entry in (
        Entry("churn", "training.churn", "serving.endpoints.churn"),
        Entry("recommender", "training.recommend", "serving.endpoints.recommender"),
        Entry("demand", "training.demand", "serving.endpoints.demand"),
        Entry("sentiment", "training.sentiment", "serving.endpoints.sentiment"),
    )
}


def names() -> list[str]:
    return list(REGISTRY)


def entry(name: str) -> Entry:
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


@cache
def family(name: str) -> Family[Any]:
    """The family behind a registered model name (its module imported on first use)."""
    module = importlib.import_module(f"{entry(name).package}.family")
    found: Family[Any] = module.FAMILY
    if found.name != name:
        raise ValueError(f"{module.__name__}.FAMILY is named {found.name!r}, registered as {name!r}")
    return found


def cli_module(name: str) -> ModuleType:
    return importlib.import_module(f"{entry(name).package}.cli")


def endpoint_module(name: str) -> ModuleType:
    return importlib.import_module(entry(name).endpoint)
