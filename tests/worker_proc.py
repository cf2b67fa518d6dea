"""Helpers for tests that run real worker processes (``python -m pyresque worker``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

if TYPE_CHECKING:
    from pyresque import Resque

ROOT = Path(__file__).resolve().parent.parent


def start_worker(
    redis_url: str,
    queues: str,
    *args: str,
    trace: Path | None = None,
    env: dict[str, str] | None = None,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``pyresque worker`` on ``queues`` with the worker job fixtures included."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    if trace is not None:
        full_env["PYRESQUE_TEST_TRACE"] = str(trace)
    full_env.update(env or {})
    cmd = [
        sys.executable,
        "-m",
        "pyresque",
        "worker",
        "--queue",
        queues,
        "--redis",
        redis_url,
        "--app-include",
        "tests.worker_jobs",
        *args,
    ]
    if log is None:
        quiet = subprocess.DEVNULL
        return subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=quiet, stderr=quiet)
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=out, stderr=out)


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> object:
    """Poll ``predicate`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """Wait for ``proc`` to exit (killing it if it does not); returns its exit code."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        raise AssertionError("the worker did not exit in time") from None


def trace_lines(path: Path) -> list[str]:
    """Lines jobs appended to the trace file."""
    return path.read_text().splitlines() if path.exists() else []


def client_of(app: Resque) -> redis.Redis:
    """The app's redis-py client (the Redis backend's)."""
    return app.backend.client  # type: ignore[attr-defined,no-any-return]


def failures(app: Resque) -> list[dict[str, Any]]:
    """Every record of the app's ``failed`` list, decoded."""
    return [json.loads(raw) for raw in client_of(app).lrange("resque:failed", 0, -1)]
