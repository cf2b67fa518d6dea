"""APP_INCLUDE module for bench/bench_spin.py: the no-op job on an app whose Redis backend
waits for hot-path replies in the spin mode ``BENCH_SPIN`` names (auto, on, off)."""

from __future__ import annotations

import os

from bench.worker_bench_jobs import noop
from pyresque import Resque
from pyresque.backends.redis import RedisBackend

# Read by the worker as its app (APP_INCLUDE rule 2), so the spin mode is this backend's.
app = Resque(RedisBackend.from_url(os.environ["BENCH_REDIS_URL"], spin=os.environ["BENCH_SPIN"]))  # type: ignore[arg-type]
app.job(noop, name="noop")
