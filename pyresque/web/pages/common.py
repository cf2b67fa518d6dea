"""What every page shares: the store, paging parameters, the HTML-or-JSON answer.

:func:`respond` renders the template for ``/<page>`` and answers JSON for
``/api/<page>`` (the same data); :func:`twin` makes both routes of one handler.
:func:`paging` gives a page's prev/next/jump numbers (never a link per page).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pyresque.web.actions import Form, wants_json
from pyresque.web.config import PAGE_SIZE
from pyresque.web.data.store import Ref, Store
from pyresque.web.render import render

__all__ = ["int_param", "one_ref", "paging", "refs", "respond", "start_param", "store", "twin"]

Handler = Callable[[Request], Awaitable[Response]]


def store(request: Request) -> Store:
    """The dashboard's :class:`Store`."""
    db: Store = request.app.state.store
    return db


def int_param(request: Request, name: str, default: int = 0, *, low: int = 0, high: int = 10**12) -> int:
    """An integer query parameter (400 when it is not one)."""
    raw = request.query_params.get(name, "")
    if raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPException(400, f"{name} must be a whole number") from None
    return min(max(value, low), high)


def start_param(request: Request, count: int = PAGE_SIZE) -> int:
    """The first row of the page asked for: ``start`` or a 1-based ``page`` (the jump box)."""
    if request.query_params.get("page", "").strip():
        return (int_param(request, "page", 1, low=1) - 1) * count
    return int_param(request, "start", 0)


def paging(total: int, start: int, count: int = PAGE_SIZE) -> dict[str, Any]:
    """Prev/next/first/last starts and the page numbers of one paged list."""
    pages = max(1, -(-total // count))
    return {
        "total": total,
        "start": start,
        "count": count,
        "page": start // count + 1,
        "pages": pages,
        "prev": max(0, start - count) if start > 0 else None,
        "next": start + count if start + count < total else None,
        "last": (pages - 1) * count,
    }


def refs(form: Form, name: str = "ref") -> list[Ref]:
    """The entry references of a form (400 for a malformed one)."""
    try:
        return [Ref.parse(text) for text in form.all(name)]
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


def one_ref(form: Form) -> Ref:
    """The one entry reference of a form (400 when there is none)."""
    found = refs(form)
    if not found:
        raise HTTPException(400, "give the entry's ref")
    return found[0]


def respond(request: Request, template: str, data: dict[str, Any], *, page: str) -> Response:
    """JSON for the API, else the page."""
    if wants_json(request):
        return JSONResponse(data)
    return render(request, template, data, page=page)


def twin(path: str, handler: Handler, *, methods: tuple[str, ...] = ("GET",)) -> list[Route]:
    """The route ``path`` and its JSON twin ``/api<path>`` (``/`` -> ``/api/overview``)."""
    api = "/api/overview" if path == "/" else "/api" + path
    return [Route(path, handler, methods=list(methods)), Route(api, handler, methods=list(methods))]
