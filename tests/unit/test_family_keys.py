"""The typed seam: each family's adapter module defines the `KEY` the runtime hands its adapter out by."""

from __future__ import annotations

import importlib
import typing

import pytest

from training import families
from training.family import Family, FamilyKey


@pytest.mark.parametrize("name", families.names())
def test_each_family_s_key_names_it_and_is_typed_with_its_adapter(name: str) -> None:
    adapter_module = importlib.import_module(f"{families.entry(name).package}.adapter")
    key = adapter_module.KEY
    assert isinstance(key, FamilyKey) and key.name == name
    family = families.family(name)
    base = next(b for b in type(family).__orig_bases__ if typing.get_origin(b) is Family)  # type: ignore[attr-defined]
    (adapter_type,) = typing.get_args(base)
    assert adapter_type.__module__ == adapter_module.__name__  # Family[<the adapter module's class>]
    assert adapter_module.__annotations__["KEY"] == f"FamilyKey[{adapter_type.__name__}]"
