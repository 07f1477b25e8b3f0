"""Fixtures for the integration tier; the running service (`base_url`, `http`, `admin_key`) is in tests/conftest.py,
shared with the browser tier."""

from __future__ import annotations

import pytest
from servers import copy_of


@pytest.fixture
def copy_workspace():
    """`copy(src, dst)`: see `copy_of`."""
    return copy_of
