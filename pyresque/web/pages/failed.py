"""Failed (``/failed``): the failed list paged in Redis, filters and a capped search,
checkbox bulk retry/remove, retry all, clear. Every action names its entries by
reference (index and digest of the bytes shown), see :mod:`pyresque.web.data.failed`.
With Ruby's multi-queue failure backend, ``?list=<queue>_failed`` (a member of
``failed_queues``) shows and acts on that list; the page links every list."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from pyresque.web.actions import answer, read_action
from pyresque.web.config import PAGE_SIZE
from pyresque.web.data import failed as failed_data
from pyresque.web.pages.common import int_param, paging, refs, respond, start_param, store, twin

__all__ = ["ROUTES"]


def _filters(request: Request) -> failed_data.Filters:
    q = request.query_params
    return failed_data.Filters(q.get("queue", ""), q.get("class", ""), q.get("exception", ""), q.get("q", ""))


async def _key(request: Request, name: str) -> str:
    """The key of the failure list ``name`` ("" = ``failed``; else a ``failed_queues`` member)."""
    db = store(request)
    if not name:
        return db.k.failed
    if len(name) > 500 or not await db.one("SISMEMBER", db.k.failed_queues, name):
        raise HTTPException(400, f"no failure list {name[:100]!r} (failed_queues names them)")
    return db.k.prefix + name


async def failed(request: Request) -> Response:
    """A page of failures, or the matches of a search from ``from`` on."""
    filters = _filters(request)
    db = store(request)
    name = request.query_params.get("list", "")
    key = await _key(request, name)
    if filters:
        start = int_param(request, "from", 0)
        data = await failed_data.search(db, filters, start, PAGE_SIZE, key=key)
        data["paging"] = None
    else:
        start = start_param(request)
        data = await failed_data.page(db, start, PAGE_SIZE, key=key)
        data["paging"] = paging(data["total"], start)
    data["list"] = name
    data["lists"] = await failed_data.lists(db)
    data["list_params"] = {"list": name} if name else {}
    data["filters"] = filters.as_dict()
    data["searching"] = bool(filters)
    data["fingerprint"] = str(data["total"])
    return respond(request, "failed.html", data, page="failed")


def _summary(verb: str, done: int, missed: int) -> str:
    text = f"{done} failure(s) {verb}"
    if missed:
        text += f"; {missed} had changed or gone since shown and were left alone"
    return text


async def retry(request: Request) -> Response:
    """POST ref...: requeue the entries shown (each kept, marked retried)."""
    form = await read_action(request)
    done, missed = await failed_data.retry(
        store(request), refs(form), key=await _key(request, form.get("list"))
    )
    return answer(request, form, _summary("retried", done, missed), back="/failed", done=done, missed=missed)


async def remove(request: Request) -> Response:
    """POST ref...: remove the entries shown."""
    form = await read_action(request)
    done, missed = await failed_data.remove(
        store(request), refs(form), key=await _key(request, form.get("list"))
    )
    return answer(request, form, _summary("removed", done, missed), back="/failed", done=done, missed=missed)


async def retry_all(request: Request) -> Response:
    """POST: requeue every failure."""
    form = await read_action(request)
    done = await failed_data.retry_all(store(request), key=await _key(request, form.get("list")))
    return answer(request, form, f"{done} failure(s) retried", back="/failed", done=done)


async def clear(request: Request) -> Response:
    """POST: delete the failed list."""
    form = await read_action(request)
    n = await failed_data.clear(store(request), key=await _key(request, form.get("list")))
    return answer(request, form, f"{n} failure(s) cleared", back="/failed", done=n)


async def clear_retried(request: Request) -> Response:
    """POST: remove the failures already retried."""
    form = await read_action(request)
    n = await failed_data.clear_retried(store(request), key=await _key(request, form.get("list")))
    return answer(request, form, f"{n} retried failure(s) cleared", back="/failed", done=n)


async def groups(request: Request) -> Response:
    """Failures counted per exception, class or queue (capped)."""
    by = request.query_params.get("by", "exception")
    if by not in failed_data.GROUPS:
        raise HTTPException(400, "group by exception, class or queue")
    name = request.query_params.get("list", "")
    data = await failed_data.groups(store(request), by, key=await _key(request, name))
    data["list"] = name
    data["choices"] = failed_data.GROUPS
    return respond(request, "failed_groups.html", data, page="failed")


ROUTES = [
    *twin("/failed/groups", groups),
    *twin("/failed/clear-retried", clear_retried, methods=("POST",)),
    *twin("/failed", failed),
    *twin("/failed/retry", retry, methods=("POST",)),
    *twin("/failed/remove", remove, methods=("POST",)),
    *twin("/failed/retry-all", retry_all, methods=("POST",)),
    *twin("/failed/clear", clear, methods=("POST",)),
]
