"""Jobs for bench/bench_async_worker.py, for pyresque's workers (APP_INCLUDE): a job that
awaits ``asyncio.sleep(0.01)`` and a no-op (arq's twin: bench/arq_bench_settings.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from pyresque import Resque

#: Seconds each sleeping job awaits.
SLEEP = 0.01


async def sleep10ms(*args: Any) -> None:
    """Awaits 10 ms on the loop."""
    await asyncio.sleep(SLEEP)


def noop(*args: Any) -> None:
    """Does nothing (the no-op drain)."""


def register(app: Resque) -> None:
    """APP_INCLUDE hook: the jobs under short names."""
    app.job(sleep10ms, name="sleep10ms")
    app.job(noop, name="noop")
