"""Checks shared by the HTTP tests."""

from __future__ import annotations

import httpx


def no_traceback(response: httpx.Response) -> None:
    assert "Traceback" not in response.text and 'File "' not in response.text, response.text
