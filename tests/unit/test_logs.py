"""Commands hide library deprecation notices, even after a library turns them back on (feast does on import)."""

from __future__ import annotations

import warnings

import pytest

from retail import logs


@pytest.mark.parametrize("verbose", [False, True])
def test_deprecations_stay_hidden_after_a_library_turns_them_on(verbose: bool, monkeypatch) -> None:
    monkeypatch.setattr(logs, "_quiet", False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.resetwarnings()
        logs.configure(verbose=verbose)
        warnings.simplefilter("once", DeprecationWarning)  # what importing feast.feature_store does
        logs.quiet_libraries()
        warnings.warn("old API", DeprecationWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ([] if not verbose else ["old API"])
