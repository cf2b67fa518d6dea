"""The one door every change goes through: :func:`read_action` and :func:`answer`.

:func:`read_action` refuses a change in read-only mode (403), reads the form (or JSON)
body with a size cap, and, when the browser sent neither ``Sec-Fetch-Site`` nor
``Origin`` (see :mod:`pyresque.web.security`), wants the form token of the
``pyresque_csrf`` cookie. :func:`answer` replies to the HTML form with a 303 back to the
page it came from (only a path of this dashboard) and a one-shot notice, and to the
JSON API (``/api/...`` or ``Accept: application/json``) with ``{"ok", "message", ...}``.
"""

from __future__ import annotations

import hmac
import json
import urllib.parse
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from pyresque.web.config import WebConfig
from pyresque.web.render import FLASH_COOKIE, base_path

__all__ = ["MAX_BODY", "Form", "answer", "read_action", "wants_json"]

#: Largest action body read (a bulk action of a few thousand entries fits).
MAX_BODY = 1_000_000


class Form:
    """An action's fields: form fields or a JSON object's (lists kept)."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields

    def get(self, name: str, default: str = "") -> str:
        """The first value of ``name``."""
        values = self.fields.get(name)
        return values[0] if values else default

    def all(self, name: str) -> list[str]:
        """Every value of ``name`` (checkboxes)."""
        return list(self.fields.get(name, []))


def wants_json(request: Request) -> bool:
    """Whether the caller is the JSON API (``/api/...`` or asks for JSON)."""
    path = request.url.path[len(base_path(request)) :]
    return path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


async def read_action(request: Request) -> Form:
    """The fields of a change, once it passed read-only and the cross-site checks.

    Raises:
        HTTPException: 403 (read-only, a missing or wrong token), 413, 400.
    """
    config: WebConfig = request.app.state.config
    if config.read_only:
        raise HTTPException(403, "this dashboard is read-only")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HTTPException(413, "request body too large")
    fields: dict[str, list[str]] = {}
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise HTTPException(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise HTTPException(400, "the body must be a JSON object")
        for name, value in data.items():
            values = value if isinstance(value, list) else [value]
            fields[str(name)] = [str(v) for v in values]
    else:
        fields = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    form = Form(fields)
    if request.state.csrf_check:
        sent = request.headers.get("x-csrf-token") or form.get("_token")
        if not hmac.compare_digest(sent.encode(), str(request.state.csrf).encode()):
            raise HTTPException(403, "missing or wrong form token")
    return form


def _back(request: Request, form: Form, default: str) -> str:
    target = form.get("next", default) or default
    if not target.startswith("/") or target.startswith("//") or "\\" in target or "\n" in target:
        target = default
    return base_path(request) + target


def answer(
    request: Request, form: Form, message: str, *, back: str, ok: bool = True, **data: Any
) -> Response:
    """The reply to a change: JSON for the API, a 303 to the page for a form."""
    if wants_json(request):
        return JSONResponse({"ok": ok, "message": message, **data}, status_code=200 if ok else 409)
    response = RedirectResponse(_back(request, form, back), status_code=303)
    response.set_cookie(
        FLASH_COOKIE,
        urllib.parse.quote(message[:300]),
        path=base_path(request) or "/",
        httponly=True,
        samesite="strict",
    )
    return response
