"""Safe by default: the headers, the CSP nonce, Basic auth and the cross-site check.

:class:`Security` is a plain ASGI middleware around the whole dashboard. Per request it

- makes a CSP nonce (``scope["state"]["nonce"]``): ``script-src 'nonce-…'`` only, so no
  script runs unless the dashboard's own templates gave it the nonce; styles come from
  the package's stylesheet only (no inline ``style``);
- adds ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` (and
  ``frame-ancestors 'none'``), ``Referrer-Policy: same-origin``, ``Cache-Control: no-store``;
- checks HTTP Basic auth when configured (constant-time compares of user and password;
  the password is never logged nor echoed);
- refuses a cross-site change: a request other than GET/HEAD/OPTIONS passes when
  ``Sec-Fetch-Site`` says ``same-origin``, else when ``Origin`` names this host, else
  only with the token of the ``pyresque_csrf`` cookie (checked by
  :func:`pyresque.web.actions.read_action`, which every change goes through).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pyresque.web.config import WebConfig

__all__ = ["CSRF_COOKIE", "SAFE_METHODS", "Security", "check_basic_auth", "cross_site_verdict"]

CSRF_COOKIE = "pyresque_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")


def check_basic_auth(header: str | None, auth: tuple[str, str]) -> bool:
    """Whether an ``Authorization`` header carries ``auth`` (both parts compared in
    constant time, whatever the first comparison said)."""
    if not header or header[:6].lower() != "basic ":
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    user, sep, password = decoded.partition(b":")
    user_ok = hmac.compare_digest(user, auth[0].encode("utf-8"))
    password_ok = hmac.compare_digest(password, auth[1].encode("utf-8"))
    return bool(sep) and user_ok and password_ok


def cross_site_verdict(headers: Headers) -> str:
    """``"same"`` (the browser says the request comes from this site), ``"cross"``
    (it says otherwise: refuse) or ``"token"`` (no such header: the form token decides)."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return "same" if site.strip().lower() == "same-origin" else "cross"
    origin = headers.get("origin")
    if origin is not None:
        host = headers.get("host", "")
        netloc = urlsplit(origin.strip()).netloc if origin.strip() != "null" else None
        return "same" if netloc and netloc.lower() == host.strip().lower() else "cross"
    return "token"


class Security:
    """The ASGI middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, config: WebConfig) -> None:
        self.app = app
        self.config = config

    def _headers(self, nonce: str) -> dict[str, str]:
        csp = (
            "default-src 'none'; "
            f"script-src 'nonce-{nonce}'; "
            "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        return {
            "content-security-policy": csp,
            "x-content-type-options": "nosniff",
            "x-frame-options": "DENY",
            "referrer-policy": "same-origin",
            "cache-control": "no-store",
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        nonce = secrets.token_urlsafe(18)
        cookies = cookie_parser(headers.get("cookie", ""))
        token = cookies.get(CSRF_COOKIE, "")
        fresh = not _TOKEN.fullmatch(token)
        if fresh:
            token = secrets.token_urlsafe(32)
        state: MutableMapping[str, Any] = scope.setdefault("state", {})
        state.update(nonce=nonce, csrf=token, csrf_check=False)
        extra = self._headers(nonce)
        if fresh:
            root = scope.get("root_path", "") or "/"
            secure = "; Secure" if scope.get("scheme") == "https" else ""
            extra["set-cookie"] = f"{CSRF_COOKIE}={token}; Path={root}; HttpOnly; SameSite=Strict{secure}"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for name, value in extra.items():
                    if name == "set-cookie":
                        out.append(name, value)
                    elif name not in out:
                        out[name] = value
            await send(message)

        if self.config.auth is not None and not check_basic_auth(
            headers.get("authorization"), self.config.auth
        ):
            response = PlainTextResponse(
                "authentication required\n",
                status_code=401,
                headers={"www-authenticate": 'Basic realm="pyresque", charset="UTF-8"'},
            )
            await response(scope, receive, send_with_headers)
            return
        if scope["method"] not in SAFE_METHODS:
            verdict = cross_site_verdict(headers)
            if verdict == "cross":
                response = PlainTextResponse("cross-site request refused\n", status_code=403)
                await response(scope, receive, send_with_headers)
                return
            state["csrf_check"] = verdict == "token"
        await self.app(scope, receive, send_with_headers)
