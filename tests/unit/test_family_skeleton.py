"""Every family folder has the same stage modules, so a maintainer finds each stage by name in any family."""

from __future__ import annotations

import importlib.util

import pytest

from training import families

STAGES = ("dataset", "model", "baselines", "evaluate", "pyfunc", "adapter", "batch", "cli", "family")


@pytest.mark.parametrize("name", families.names())
def test_family_folder_has_every_stage_module(name: str) -> None:
    package = families.entry(name).package
    missing = [stage for stage in STAGES if importlib.util.find_spec(f"{package}.{stage}") is None]
    assert not missing, f"{package} lacks stage modules {missing}"
