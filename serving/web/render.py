"""Rendering a page: the templates, the signed-in user's menu and CSRF token, and the form check every POST makes."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from serving.sessions import Signed
from serving.web.pages import visible

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
PAGE_HEADERS = {  # no other site may frame a page (a hidden promote button), guess types or learn our URLs
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
templates.env.globals["static"] = lambda name: f"/ui/static/{name}"


def signed(request: Request) -> Signed:
    """The session the guard found for this page request (the guard sends the browser to sign-in without one)."""
    found = getattr(request.state, "signed", None)
    if not isinstance(found, Signed):
        raise HTTPException(status_code=401, detail="sign in first")
    return found


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page: `template` with the user's menu, name, role and CSRF token beside `context`."""
    me = getattr(request.state, "signed", None)
    common = {
        "me": me,
        "menu": visible(me.caller.role) if me else [],
        "csrf": me.csrf if me else context.pop("csrf", ""),
        "path": request.url.path,
    }
    response = templates.TemplateResponse(request, template, {**common, **context}, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"  # pages show customer data: never kept by a shared cache
    response.headers.update(PAGE_HEADERS)
    return response


async def checked_form(request: Request, csrf: Annotated[str, Form(max_length=128)] = "") -> Signed:
    """A POST from a page: its form's `csrf` field must be the session's token, else 403 and nothing is done."""
    me = signed(request)
    if not csrf or not hmac.compare_digest(csrf, me.csrf):
        raise HTTPException(status_code=403, detail="the form's CSRF token is missing or wrong: reload the page")
    return me


Form_ = Annotated[Signed, Depends(checked_form)]
