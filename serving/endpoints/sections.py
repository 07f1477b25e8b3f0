"""Answers made of sections that may each be missing: the customer profile, offers and product pages.

`Notes.fill` runs one section and never lets it fail the answer: a section that cannot be filled for an expected
reason raises `Unavailable` (its message becomes the note), anything else is logged and noted. `models_in` gives
the runtime only when its models are loaded, `family` turns a model endpoint's 503 into `Unavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fastapi import HTTPException, Request

from serving.runtime import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")

NEUTRAL = {
    "churn": "churn score unavailable",
    "recommendations": "recommendations unavailable",
    "discounts": "no discounts (churn score unavailable)",
}


class Unavailable(Exception):
    """A section cannot be filled for an expected reason (no model, no features): its message is the note.

    `public`: the message is ours and safe for any caller; otherwise it carries the runtime's own words (a model's
    load error) and only operators read it.
    """

    def __init__(self, message: str, public: bool = True) -> None:
        super().__init__(message)
        self.public = public


class Notes:
    """Collects why sections are empty; `fill` runs one section and never lets it fail the profile.

    With `detailed` (operator keys) a note says what went wrong; otherwise a failure or a runtime's problem is
    a neutral "<section>: ... unavailable" and the details go to the log.
    """

    def __init__(self, detailed: bool = True) -> None:
        self.lines: list[str] = []
        self.detailed = detailed

    def neutral(self, name: str) -> str:
        return f"{name}: {NEUTRAL.get(name, f'{name} unavailable')}"

    def fill(self, name: str, section: Callable[..., T], *args: Any, default: T) -> T:
        try:
            return section(*args)
        except Unavailable as exc:
            if exc.public or self.detailed:
                self.lines.append(f"{name}: {exc}")
            else:
                log.warning("profile section %s unavailable: %s", name, exc)
                self.lines.append(self.neutral(name))
        except Exception as exc:
            log.exception("profile section %s failed", name)
            detail = f"{name}: failed ({type(exc).__name__}); see the service log"
            self.lines.append(detail if self.detailed else self.neutral(name))
        return default

    def refuse(self, name: str, refused: Mapping[str, str]) -> bool:
        """True (with the reason as a note) when the caller may not see section `name`."""
        if name in refused:
            self.lines.append(f"{name}: {refused[name]}")
            return True
        return False


def models_in(rt: Runtime | None) -> Runtime:
    """The runtime when its models are in, or `Unavailable` saying why they are not."""
    if rt is None:
        raise Unavailable("no models in this process (the order API runs without the model service)")
    if not rt.ready.is_set():
        if rt.load_error:
            raise Unavailable(rt.load_error, public=False)
        raise Unavailable("models and features are still loading")
    return rt


def family(call: Callable[..., T], *args: Any) -> T:
    """A model endpoint's plain function; its 503 (a missing version, why the model could not load) is `Unavailable`
    in the runtime's words."""
    try:
        return call(*args)
    except HTTPException as exc:
        raise Unavailable(str(exc.detail), public=False) from None


def request_runtime(request: Request) -> Runtime | None:
    """The Bento's runtime (loaded models, feature store, stock), or None in an app composed without one."""
    return getattr(request.app.state, "runtime", None)
