"""Jobs for bench/bench_worker.py (importable by pyresque and RQ workers alike)."""

from __future__ import annotations

import os
import time
from typing import Any

from pyresque import Resque


def noop(*args: Any) -> None:
    """Does nothing: the drain measures the worker, not the job."""


def latency(t0: float) -> None:
    """Appends how long ago ``t0`` (the enqueue time) was, in seconds."""
    path = os.environ.get("BENCH_LATENCY_FILE")
    if path:
        with open(path, "a", encoding="ascii") as fh:
            fh.write(f"{time.time() - t0}\n")


def register(app: Resque) -> None:
    """APP_INCLUDE hook: register the jobs under short names."""
    app.job(noop, name="noop")
    app.job(latency, name="latency")
