"""Putting the staff pages on the service: the routers, the static files, and HTML answers for errors."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from serving.web import customers, feedback, forecasts, login, models, order_entry, sales
from serving.web.charts import PLOTLY_JS
from serving.web.render import HERE, render

router = APIRouter(prefix="/ui", include_in_schema=False)
for _pages in (login, sales, forecasts, customers, feedback, models, order_entry):
    router.include_router(_pages.router)
MESSAGES = {
    401: "Please sign in.",
    403: "Your role may not open this page or do this.",
    404: "There is no such page or record.",
    422: "Something in the request was not valid.",
}


@router.get("/static/plotly.min.js")
def plotly_js() -> FileResponse:
    """plotly.js as the installed `plotly` package ships it (no CDN)."""
    return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")


def is_page(request: Request) -> bool:
    path = request.url.path
    return path == "/ui" or path.startswith("/ui/")


def error_page(request: Request, status: int, detail: object) -> HTMLResponse:
    """An error on a page as a page (with the menu), not JSON."""
    text = detail if isinstance(detail, str) else MESSAGES.get(status, "The request failed.")
    return render(request, "error.html", status_code=status, title=MESSAGES.get(status, "Error"), detail=text)
