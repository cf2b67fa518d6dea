"""Overview (``/``, ``/api/overview``): pending, processed, failed, workers, working,
the largest queues, the live throughput chart (drawn by ``static/app.js`` from the
counters the live stream sends) and the per-day history (an SVG drawn here)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from pyresque.web.data import history
from pyresque.web.data import queues as queue_data
from pyresque.web.pages.common import respond, store, twin

__all__ = ["ROUTES"]


async def overview(request: Request) -> Response:
    """The overview page, or its JSON."""
    data = await queue_data.summary(store(request))
    data["top_queues"] = sorted(data["queues"], key=lambda q: -q["size"])[:10]
    data["history"] = await history.daily(store(request))
    return respond(request, "overview.html", data, page="overview")


ROUTES = twin("/", overview)
