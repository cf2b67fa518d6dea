"""The per-day history of the overview: the daily counters pyresque's observability
plugin writes next to Resque's (``<ns>:stat:processed:YYYY-MM-DD`` and
``<ns>:stat:failed:YYYY-MM-DD``, see :mod:`pyresque.observability.history`; Ruby and the
other Resques ignore them). One MGET, whatever the traffic."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from pyresque.web.data.store import Store

__all__ = ["DAYS", "daily"]

#: Days shown.
DAYS = 30


async def daily(db: Store, days: int = DAYS, now: float | None = None) -> dict[str, Any]:
    """The last ``days`` days' processed and failed counts, oldest first, and the largest."""
    when = time.time() if now is None else now
    dates = [
        dt.datetime.fromtimestamp(when - 86400 * back, dt.timezone.utc).strftime("%Y-%m-%d")
        for back in range(days - 1, -1, -1)
    ]
    names = [db.k.stat(f"{kind}:{d}") for d in dates for kind in ("processed", "failed")]
    values = await db.one("MGET", *names)
    counts = [(int(values[2 * i] or 0), int(values[2 * i + 1] or 0)) for i in range(len(dates))]
    rows = [{"date": d, "processed": p, "failed": f} for d, (p, f) in zip(dates, counts, strict=True)]
    top = max([1, *(p for p, _ in counts), *(f for _, f in counts)])
    return {"days": rows, "top": top, "any": any(p or f for p, f in counts)}
