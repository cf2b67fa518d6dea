"""Delayed (``/delayed``: the timeline of timestamps; ``/delayed/at?ts=``: one
timestamp's items, enqueue now, cancel) and Schedule (``/schedule``: recurring
entries, run now, delete), in resque-scheduler's keys."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from pyresque.web.actions import Form, answer, read_action
from pyresque.web.config import PAGE_SIZE
from pyresque.web.data import delayed as delayed_data
from pyresque.web.pages.common import int_param, one_ref, paging, respond, start_param, store, twin

__all__ = ["ROUTES"]


async def timeline(request: Request) -> Response:
    """Delayed timestamps, soonest first, with their item counts; or a search."""
    q = request.query_params.get("q", "")
    if q:
        found = await delayed_data.search(store(request), q, int_param(request, "from", 0), PAGE_SIZE)
        return respond(request, "delayed_search.html", found, page="delayed")
    start = start_param(request)
    data = await delayed_data.timeline(store(request), start, PAGE_SIZE)
    data["paging"] = paging(data["total"], start)
    data["fingerprint"] = str(data["total"])
    return respond(request, "delayed.html", data, page="delayed")


async def at(request: Request) -> Response:
    """The items due at one timestamp."""
    ts = int_param(request, "ts", -1, low=-1)
    if ts < 0:
        raise HTTPException(400, "give a timestamp (?ts=...)")
    start = start_param(request)
    data = await delayed_data.items(store(request), ts, start, PAGE_SIZE)
    data["paging"] = paging(data["size"], start)
    data["fingerprint"] = str(data["size"])
    return respond(request, "delayed_at.html", data, page="delayed")


def _ts(form: Form) -> int:
    try:
        return int(form.get("ts"))
    except ValueError:
        raise HTTPException(400, "give the item's timestamp (ts)") from None


async def enqueue_now(request: Request) -> Response:
    """POST ts, ref: move that item to its queue now."""
    form = await read_action(request)
    ts = _ts(form)
    ok = await delayed_data.enqueue_now(store(request), ts, one_ref(form))
    message = (
        "enqueued now" if ok else "that item is gone (enqueued or cancelled) or names no queue: nothing done"
    )
    return answer(request, form, message, back=f"/delayed/at?ts={ts}", ok=ok)


async def cancel(request: Request) -> Response:
    """POST ts, ref: remove that item."""
    form = await read_action(request)
    ts = _ts(form)
    ok = await delayed_data.cancel(store(request), ts, one_ref(form))
    message = "delayed job cancelled" if ok else "that item is gone: nothing done"
    return answer(request, form, message, back=f"/delayed/at?ts={ts}", ok=ok)


async def clear(request: Request) -> Response:
    """POST: drop every delayed job (the async client's delayed store ``clear``)."""
    form = await read_action(request)
    n = await request.app.state.backend.delayed.clear()
    return answer(request, form, f"{n} delayed job(s) cleared", back="/delayed", done=n)


async def schedule(request: Request) -> Response:
    """The recurring schedule entries."""
    data = await delayed_data.schedules(store(request))
    return respond(request, "schedule.html", data, page="schedule")


async def run_now(request: Request) -> Response:
    """POST name: enqueue that entry's job now."""
    form = await read_action(request)
    queue = await delayed_data.run_now(store(request), form.get("name"))
    ok = queue is not None
    message = f"enqueued on {queue}" if ok else "that schedule entry is gone or has no class: nothing done"
    return answer(request, form, message, back="/schedule", ok=ok)


async def delete(request: Request) -> Response:
    """POST name: delete a persistent schedule entry."""
    form = await read_action(request)
    ok = await delayed_data.delete_schedule(store(request), form.get("name"))
    return answer(request, form, "schedule entry deleted" if ok else "no such entry", back="/schedule", ok=ok)


ROUTES = [
    *twin("/delayed", timeline),
    *twin("/delayed/at", at),
    *twin("/delayed/enqueue-now", enqueue_now, methods=("POST",)),
    *twin("/delayed/cancel", cancel, methods=("POST",)),
    *twin("/delayed/clear", clear, methods=("POST",)),
    *twin("/schedule", schedule),
    *twin("/schedule/run", run_now, methods=("POST",)),
    *twin("/schedule/delete", delete, methods=("POST",)),
]
