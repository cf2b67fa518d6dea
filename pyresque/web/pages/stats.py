"""Stats (``/stats``: Resque's info and Redis INFO cards; ``/stats/keys``: the key
browser by SCAN; ``/stats/key?key=``: one key's peek)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from pyresque.web.data import queues as queue_data
from pyresque.web.data import stats as stats_data
from pyresque.web.pages.common import int_param, respond, store, twin

__all__ = ["ROUTES"]


async def stats(request: Request) -> Response:
    """Resque's numbers and Redis INFO."""
    db = store(request)
    data = {"resque": await queue_data.summary(db), **(await stats_data.redis_info(db))}
    return respond(request, "stats.html", data, page="stats")


async def keys(request: Request) -> Response:
    """Keys of the namespace by SCAN, from a cursor."""
    pattern = request.query_params.get("match", "")[:200]
    data = await stats_data.browse(store(request), pattern, int_param(request, "cursor", 0))
    return respond(request, "keys.html", data, page="stats")


async def key(request: Request) -> Response:
    """One key, a bounded look."""
    name = request.query_params.get("key", "")
    db = store(request)
    if not name.startswith(db.k.prefix):
        raise HTTPException(400, f"give a key of the namespace (?key={db.k.prefix}...)")
    return respond(request, "key.html", await stats_data.key_detail(db, name), page="stats")


ROUTES = [*twin("/stats", stats), *twin("/stats/keys", keys), *twin("/stats/key", key)]
