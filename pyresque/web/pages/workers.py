"""Workers (``/workers``, ``?working=1`` for the busy ones only): by host, with queues,
pid, started, heartbeat age, the job each one runs and for how long, stale flags;
``POST /workers/prune`` removes the stale, unleased ones; ``POST /workers/quiet`` and
``/workers/stop`` (``id``) ask a pyresque worker to exit through Redis
(:mod:`pyresque.web.data.control`)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from pyresque.web.actions import answer, read_action
from pyresque.web.config import PAGE_SIZE, STALE_AFTER
from pyresque.web.data import control
from pyresque.web.data import workers as worker_data
from pyresque.web.pages.common import paging, respond, start_param, store, twin

__all__ = ["ROUTES"]

WORKERS_PAGE = PAGE_SIZE * 4


async def workers(request: Request) -> Response:
    """One page of workers, grouped by host."""
    start = start_param(request, WORKERS_PAGE)
    only_working = request.query_params.get("working", "") in ("1", "true", "on")
    data = await worker_data.page(store(request), start, WORKERS_PAGE, working=only_working)
    data["paging"] = paging(data["total"], start, WORKERS_PAGE)
    data["params"] = {"working": "1"} if only_working else {}
    hosts: dict[str, list[dict[str, object]]] = {}
    for row in data["workers"]:
        hosts.setdefault(row["host"], []).append(row)
    data["hosts"] = hosts
    data["stale_after"] = STALE_AFTER
    data["working"] = sum(1 for row in data["workers"] if row["job"] is not None)
    data["fingerprint"] = f"{data['total']}:{data['working']}"
    return respond(request, "workers.html", data, page="workers")


async def prune(request: Request) -> Response:
    """POST [id...]: prune stale workers (those given, or all)."""
    form = await read_action(request)
    ids = form.all("id") or None
    pruned = await worker_data.prune(store(request), ids)
    return answer(request, form, f"{len(pruned)} dead worker(s) pruned", back="/workers", pruned=pruned)


_ASKED = {
    "quiet": "it finishes its current job, then exits",
    "stop": "it stops its current job now (recorded failed), then exits",
}


async def _command(request: Request, command: str) -> Response:
    form = await read_action(request)
    wid = form.get("id")
    if not wid or len(wid) > 1000:
        raise HTTPException(400, "give a worker id (id=...)")
    written = await control.send(store(request), wid, command)
    if written is None:
        message = f"worker {wid} is not a live pyresque worker (no lease): nothing sent"
        return answer(request, form, message, back="/workers", ok=False)
    message = f"asked worker {wid} to {command}: {_ASKED[command]} (within a few seconds)"
    return answer(request, form, message, back="/workers", command=command)


async def quiet(request: Request) -> Response:
    """POST id: ask that pyresque worker to finish its job, then exit (QUIT)."""
    return await _command(request, "quiet")


async def stop(request: Request) -> Response:
    """POST id: ask that pyresque worker to stop its job now, then exit (TERM)."""
    return await _command(request, "stop")


ROUTES = [
    *twin("/workers", workers),
    *twin("/workers/prune", prune, methods=("POST",)),
    *twin("/workers/quiet", quiet, methods=("POST",)),
    *twin("/workers/stop", stop, methods=("POST",)),
]
