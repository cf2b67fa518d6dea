"""Queues: ``/queues`` (sizes, latency, pause/resume all, pause/resume one queue for
pyresque workers, remove a queue) and
``/queue?name=Q`` (a queue's jobs paged in Redis, delete one by its exact bytes);
each with its ``/api`` twin, and the actions (POST)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from pyresque.web.actions import answer, read_action
from pyresque.web.config import PAGE_SIZE
from pyresque.web.data import control
from pyresque.web.data import queues as queue_data
from pyresque.web.pages.common import one_ref, paging, respond, start_param, store, twin

__all__ = ["ROUTES"]


async def queues(request: Request) -> Response:
    """Every queue with its size and latency."""
    data = await queue_data.summary(store(request))
    return respond(request, "queues.html", data, page="queues")


def _name(value: str) -> str:
    if not value or len(value) > 500:
        raise HTTPException(400, "give a queue name (?name=...)")
    return value


async def queue(request: Request) -> Response:
    """One queue's jobs, a page at a time."""
    name = _name(request.query_params.get("name", ""))
    start = start_param(request)
    data = await queue_data.jobs(store(request), name, start, PAGE_SIZE)
    data["paging"] = paging(data["size"], start)
    data["fingerprint"] = f"{data['size']}"
    return respond(request, "queue.html", data, page="queues")


async def delete_job(request: Request) -> Response:
    """POST name, ref: remove that job (LREM 1 of its exact bytes)."""
    form = await read_action(request)
    name = _name(form.get("name"))
    ok = await queue_data.delete_job(store(request), name, one_ref(form))
    message = "job deleted" if ok else "that job is no longer in the queue (taken or deleted): nothing done"
    return answer(request, form, message, back=f"/queue?name={name}", ok=ok)


async def remove_queue(request: Request) -> Response:
    """POST name: drop the queue and its jobs."""
    form = await read_action(request)
    name = _name(form.get("name"))
    n = await queue_data.remove_queue(store(request), name)
    return answer(request, form, f"queue {name} removed ({n} jobs dropped)", back="/queues", dropped=n)


async def pause(request: Request) -> Response:
    """POST paused=1|0: set or clear ``pause-all-workers``."""
    form = await read_action(request)
    paused = form.get("paused").strip().lower() in ("1", "true", "on", "yes")
    await queue_data.set_paused(store(request), paused)
    message = "every worker paused (pause-all-workers)" if paused else "workers resumed"
    return answer(request, form, message, back="/queues", paused=paused)


async def pause_queue(request: Request) -> Response:
    """POST name, paused=1|0: add or remove the queue in ``paused-queues`` (pyresque
    workers skip it; Ruby, PHP and node workers do not read it)."""
    form = await read_action(request)
    name = _name(form.get("name"))
    paused = form.get("paused").strip().lower() in ("1", "true", "on", "yes")
    changed = await control.set_queue_paused(store(request), name, paused)
    if paused:
        message = f"queue {name} paused for pyresque workers (Ruby, PHP and node workers still take its jobs)"
    else:
        message = f"queue {name} resumed for pyresque workers"
    return answer(request, form, message, back="/queues", paused=paused, changed=changed)


ROUTES = [
    *twin("/queues", queues),
    *twin("/queue", queue),
    *twin("/queues/delete-job", delete_job, methods=("POST",)),
    *twin("/queues/remove", remove_queue, methods=("POST",)),
    *twin("/queues/pause", pause, methods=("POST",)),
    *twin("/queues/pause-queue", pause_queue, methods=("POST",)),
]
