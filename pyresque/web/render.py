"""Jinja2 for the dashboard: autoescaped templates of the package and their filters.

:func:`render` answers a page: the template, the page's data, and what every page
shows (the base path when mounted, the CSP nonce its scripts carry, the form token,
read-only, a one-shot notice). Filters: ``num`` (1,234), ``ago`` (seconds -> ``3m 20s``),
``when`` (epoch -> UTC time). Every value is escaped by autoescape; none is marked safe.
"""

from __future__ import annotations

import datetime as dt
import functools
import urllib.parse
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from pyresque.web.config import WebConfig

__all__ = ["FLASH_COOKIE", "base_path", "environment", "render"]

FLASH_COOKIE = "pyresque_flash"


def _num(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def _ago(seconds: Any) -> str:
    if seconds is None:
        return "-"
    s = int(float(seconds))
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m {s % 60}s"
    if s < 86400:
        return f"{sign}{s // 3600}h {s % 3600 // 60}m"
    return f"{sign}{s // 86400}d {s % 86400 // 3600}h"


def _when(epoch: Any) -> str:
    if epoch is None:
        return "-"
    try:
        return dt.datetime.fromtimestamp(float(epoch), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError, TypeError):
        return str(epoch)


@functools.cache
def environment() -> jinja2.Environment:
    """The package's templates, autoescaped (every value from Redis is escaped)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pyresque.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=_num, ago=_ago, when=_when, urlq=lambda v: urllib.parse.quote(str(v), safe=""))
    return env


def base_path(request: Request) -> str:
    """The path the dashboard is mounted at (``""`` at the root, ``"/jobs"`` ...)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _multi_root(request: Request, config: WebConfig) -> str:
    """Where the instances are mounted: above this one's ``/<instance>`` (the root
    itself for the sharded dashboard's own pages, ``instance`` -1)."""
    if not config.instances:
        return ""
    if config.instance < 0:
        return base_path(request)
    return base_path(request)[: -len(f"/{config.instance}")]


def render(request: Request, template: str, data: dict[str, Any], *, page: str) -> HTMLResponse:
    """The HTML of ``template`` with ``data`` and the dashboard's common context."""
    config: WebConfig = request.app.state.config
    flash = urllib.parse.unquote(request.cookies.get(FLASH_COOKIE, ""))[:300]
    context = {
        **data,
        "base": base_path(request),
        "nonce": request.state.nonce,
        "csrf": request.state.csrf,
        "read_only": config.read_only,
        "title": config.title,
        "namespace": config.namespace,
        "description": config.description,
        "page": page,
        "instances": config.instances,
        "instance": config.instance,
        "multi_root": _multi_root(request, config),
        "all_label": config.all_label,
        "flash": flash,
        "here": request.url.path[len(base_path(request)) :]
        + (f"?{request.url.query}" if request.url.query else ""),
    }
    html = environment().get_template(template).render(context)
    response = HTMLResponse(html)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path=base_path(request) or "/")
    return response
