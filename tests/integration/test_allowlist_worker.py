"""Real workers in every mode: a payload cannot reach through an APP_INCLUDE module.

The included module does ``import os``; the payload ``<module>.os.system`` must run
nothing, end as an ``UnknownJobClass`` failure record, and leave the worker working.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from pyresque import Resque
from tests.worker_proc import start_worker, stop

pytestmark = pytest.mark.redis

MODES = ["fork", "fork-every", "inprocess"]

JOBS = """
    import os
    from subprocess import call


    def touch(path):
        with open(path, "w") as fh:
            fh.write("ran")
"""


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client on the (emptied) test server."""
    conn = redis.Redis.from_url(redis_url)
    yield conn
    conn.close()


def push(client: redis.Redis, queue: str, payload: dict[str, Any]) -> None:
    """Push ``payload`` as a foreign producer would: raw JSON on the Resque keys."""
    client.sadd("resque:queues", queue)
    client.rpush(f"resque:queue:{queue}", json.dumps(payload))


def failures(client: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in client.lrange("resque:failed", 0, -1)]


@pytest.mark.parametrize("mode", MODES)
def test_a_payload_naming_a_module_attribute_runs_nothing_and_fails(
    client: redis.Redis, redis_url: str, mode: str, tmp_path: Path
) -> None:
    """`<jobs>.os.system` and `<jobs>.call` are refused (UnknownJobClass records); the
    worker goes on and runs `<jobs>.touch`, which the module defines."""
    name = f"allowlist_jobs_{uuid.uuid4().hex[:10]}"
    module = tmp_path / f"{name}.py"
    module.write_text(textwrap.dedent(JOBS))
    pwned, called, ran = tmp_path / "pwned", tmp_path / "called", tmp_path / "ran"
    evil: list[dict[str, Any]] = [
        {"class": f"{name}.os.system", "args": [f"touch {pwned}"]},
        {"class": f"{name}.call", "args": [["touch", str(called)]]},
    ]
    for payload in evil:
        push(client, "q", payload)
    push(client, "q", {"class": f"{name}.touch", "args": [str(ran)]})
    proc = start_worker(redis_url, "q", "--burst", "--mode", mode, "--app-include", str(module))
    assert stop(proc, 60) == 0
    assert not pwned.exists() and not called.exists()
    records = failures(client)
    assert [r["exception"] for r in records] == ["pyresque.UnknownJobClass"] * 2
    assert [r["payload"] for r in records] == evil
    assert "is a module, not a class" in records[0]["error"]
    assert "not defined under that name" in records[1]["error"]
    assert ran.read_text() == "ran"
    assert client.llen("resque:queue:q") == 0
    app = Resque(redis_url)
    try:
        assert app.backend.stats.get("processed") == 3
        assert app.backend.stats.get("failed") == 2
    finally:
        app.close()
