"""The interop jobs on the pyresque side, twins of ``node/worker.js``'s (same names, same traces).

Loaded by ``pyresque worker --app-include tests.interop.py_jobs``; the jobs write to the
Redis named by ``INTEROP_REDIS_URL`` (the test's own server).
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

import redis

from pyresque import Resque

PERFORMED = "interop:performed"


def _client() -> redis.Redis:
    return redis.Redis.from_url(os.environ["INTEROP_REDIS_URL"])


def _record(cls: str, args: list[Any]) -> None:
    entry = {
        "class": cls,
        "args": args,
        "args_json": json.dumps(args, separators=(",", ":"), ensure_ascii=False),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "by": "pyresque",
    }
    with _client() as client:
        client.rpush(PERFORMED, json.dumps(entry))


class Record:
    """Records the arguments it received."""

    def perform(self, *args: Any) -> int:
        _record("Record", list(args))
        return len(args)


class Fail:
    """Always fails with the given message."""

    def perform(self, message: str) -> None:
        raise RuntimeError(message)


class Block:
    """Records itself, then waits until ``interop:release:<key>`` exists."""

    def perform(self, key: str) -> str:
        _record("Block", [key])
        deadline = time.monotonic() + 20
        with _client() as client:
            while time.monotonic() < deadline:
                if client.exists(f"interop:release:{key}"):
                    return "released"
                time.sleep(0.02)
        raise RuntimeError("Block was never released")


def register(app: Resque) -> None:
    """Register the interop jobs under the names node uses."""
    app.job(Record, name="Record")
    app.job(Fail, name="Fail")
    app.job(Block, name="Block")
