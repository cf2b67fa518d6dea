"""arq's side of bench/bench_async_worker.py: ``arq bench.arq_bench_settings.WorkerSettings``
runs :func:`sleep10ms` (the same ``await asyncio.sleep(0.01)`` as pyresque's job), up to
``BENCH_CONCURRENCY`` at once, in burst mode, keeping no results (the least work arq
can do per job). The Redis URL comes from ``BENCH_REDIS_URL``."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from arq.connections import RedisSettings

from bench.async_bench_jobs import SLEEP


async def sleep10ms(ctx: dict[str, Any]) -> None:
    """Awaits 10 ms on the loop."""
    await asyncio.sleep(SLEEP)


async def noop(ctx: dict[str, Any]) -> None:
    """Does nothing."""


class WorkerSettings:
    """arq's worker settings for the bench."""

    functions = [sleep10ms, noop]
    max_jobs = int(os.environ.get("BENCH_CONCURRENCY", "100"))
    burst = True
    keep_result = 0
    poll_delay = 0.05
    redis_settings = RedisSettings.from_dsn(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
