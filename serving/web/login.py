"""Signing in to the staff pages with an API key, and out again."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving import sessions
from serving.auth import engine_for
from serving.web.pages import visible
from serving.web.render import Form_, render

router = APIRouter()
KEY_MAX = 128


def _next(target: str | None) -> str:
    """Where to go after signing in: a page of ours, never another site (`//host`, `/ui\\\\host`, ...)."""
    if target and target.startswith("/ui/") and not target.startswith("/ui//") and "\\\\" not in target:
        return target
    return "/ui/"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _form(request: Request, next_: str | None, error: str | None = None, status: int = 200) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    page = render(request, "login.html", status_code=status, csrf=token, next=_next(next_), error=error)
    page.set_cookie(
        sessions.LOGIN_COOKIE,
        token,
        max_age=3600,
        path="/ui/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return page


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    """The sign-in form: one field, the API key (`retail keys create`)."""
    return _form(request, next)


@router.post("/login", response_model=None)
async def login(
    request: Request,
    key: Annotated[str, Form(max_length=KEY_MAX)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=500)] = "/ui/",
) -> Response:
    """Check the key; on success a session cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) and the page asked for."""
    expected = request.cookies.get(sessions.LOGIN_COOKIE, "")
    if not csrf or not expected or not hmac.compare_digest(csrf, expected):
        return _form(request, next, "The form had expired: please sign in again.", status=403)
    key = key.strip()
    started = None
    if key.startswith("rk_") and len(key) <= KEY_MAX:
        engine = await engine_for(request)
        started = await run_in_threadpool(sessions.start, engine, key, sessions.config(request).hours)
    if started is None:
        return _form(request, next, "That key is unknown or has been revoked.", status=401)
    token, _ = started
    conf = sessions.config(request)
    response = RedirectResponse(_next(next), status_code=303)
    response.set_cookie(
        sessions.COOKIE,
        sessions.serializer(conf.key).dumps(token),
        max_age=int(conf.hours * 3600),
        path="/ui",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(sessions.LOGIN_COOKIE, path="/ui/login")
    return response


@router.post("/logout")
async def logout(request: Request, me: Form_) -> RedirectResponse:
    """End the session (everywhere its cookie is) and go back to sign-in."""
    conf = sessions.config(request)
    token = sessions.read_cookie(conf.key, request.cookies.get(sessions.COOKIE), conf.hours * 3600)
    if token is not None:
        await run_in_threadpool(sessions.end, await engine_for(request), token)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/ui")
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """The start page: the pages the signed-in role may open, each with what it is for."""
    me = request.state.signed
    pages = visible(me.caller.role)
    if not pages:
        return render(
            request,
            "error.html",
            status_code=403,
            title="No staff pages",
            detail=f"A {me.caller.role} key opens no staff pages.",
        )
    return render(request, "home.html", title="Start", pages=pages)
