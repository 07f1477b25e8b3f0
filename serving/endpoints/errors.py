"""What a plain endpoint function raises for a request it refuses; its route answers it as JSON."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


class Rejected(Exception):
    """A request refused with `status` and `content` (`serving.payloads.invalid(...)`: FastAPI's error shape)."""

    def __init__(self, status: int, content: dict[str, Any]) -> None:
        super().__init__(f"{status}: {content}")
        self.status, self.content = status, content

    def response(self) -> JSONResponse:
        return JSONResponse(status_code=self.status, content=self.content)
