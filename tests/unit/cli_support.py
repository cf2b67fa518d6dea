"""Shared helpers for the operator CLI tests (the fixtures live in each test module)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from click.testing import CliRunner, Result

from pyresque import FailureRecord, Resque
from pyresque.cli import main

RUBY_WORKER = "web1:4242:high,low"
RUBY_RECORD = {
    "queue": "high",
    "run_at": "2026-11-23T17:23:27Z",
    "payload": {"class": "Foo::Bar", "args": [1, "a/b"]},
}


def run(url: str, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Invoke ``pyresque ARGS... -r URL``."""
    return CliRunner().invoke(main, [*args, "-r", url], input=input, env=env, catch_exceptions=False)


def run_json(url: str, *args: str) -> Any:
    """Invoke with ``--json`` and decode stdout (the command must succeed)."""
    result = run(url, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def fail_job(app: Resque, queue: str, cls: str, args: list[Any], message: str = "boom") -> None:
    """Write one failure record as a worker would."""
    payload = app.build_job(queue, cls, args).to_payload()
    app.failures.save(
        FailureRecord.from_exception(
            RuntimeError(message), payload=payload, queue=queue, worker="h:1:" + queue
        )
    )


def add_ruby_worker(app: Resque, busy: bool = True) -> None:
    """Register a worker the way Ruby Resque does (set member, started, heartbeat, job record)."""
    client = app.backend.client  # type: ignore[attr-defined]
    client.sadd("resque:workers", RUBY_WORKER)
    client.set(f"resque:worker:{RUBY_WORKER}:started", "2026-11-23 17:23:27 +0000")
    client.hset("resque:workers:heartbeat", RUBY_WORKER, "2026-11-23T17:23:27+00:00")
    if busy:
        client.set(f"resque:worker:{RUBY_WORKER}", json.dumps(RUBY_RECORD))


def dead_pid() -> int:
    """The pid of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
