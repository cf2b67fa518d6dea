"""The operator CLI: ``workers quiet|stop ID|--all`` and ``queues pause|resume QUEUE``
(on a shared fakeredis; the workers obeying them are in
tests/integration/test_worker_control.py, on a real redis-server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from pyresque import Resque
from tests.unit.cli_support import RUBY_WORKER, add_ruby_worker, run, run_json

PYRESQUE_WORKER = "box:77:q"


@pytest.fixture
def url() -> str:
    """A fakeredis server shared by name between the test's app and the CLI."""
    return f"fakeredis://cli-{uuid.uuid4().hex}"


@pytest.fixture
def app(url: str) -> Iterator[Resque]:
    """The app the test prepares data with (same server as the CLI's)."""
    resque = Resque(url)
    yield resque
    resque.close()


def add_pyresque_worker(app: Resque) -> None:
    """A registered worker holding a lease, as a live pyresque worker does."""
    client = app.backend.client  # type: ignore[attr-defined]
    client.sadd("resque:workers", PYRESQUE_WORKER)
    client.set(f"resque:worker:{PYRESQUE_WORKER}:lease", "n0nce:3:pid:[1]", ex=30)


def control_value(app: Resque, wid: str) -> bytes | None:
    return app.backend.client.get(f"resque:worker:{wid}:control")  # type: ignore[attr-defined,no-any-return]


def test_workers_quiet_and_stop_write_a_command_for_the_lease_nonce(url: str, app: Resque) -> None:
    add_pyresque_worker(app)
    result = run(url, "workers", "quiet", PYRESQUE_WORKER)
    assert result.exit_code == 0, result.output
    assert f"asked {PYRESQUE_WORKER} to quiet: finish the current job, then exit" in result.stdout
    assert control_value(app, PYRESQUE_WORKER) == b"quiet n0nce"
    assert run(url, "workers", "quiet", PYRESQUE_WORKER).exit_code == 0  # a repeat: the same value
    assert control_value(app, PYRESQUE_WORKER) == b"quiet n0nce"
    data = run_json(url, "workers", "stop", PYRESQUE_WORKER)
    assert data == {"command": "stop", "sent": [PYRESQUE_WORKER], "skipped": []}
    assert control_value(app, PYRESQUE_WORKER) == b"stop n0nce"
    ttl = app.backend.client.ttl(f"resque:worker:{PYRESQUE_WORKER}:control")  # type: ignore[attr-defined]
    assert 0 < ttl <= 300


def test_workers_quiet_refuses_a_ruby_worker_in_one_line(url: str, app: Resque) -> None:
    add_ruby_worker(app)
    result = run(url, "workers", "quiet", RUBY_WORKER)
    assert result.exit_code == 1
    assert "is not a live pyresque worker" in result.output and "Traceback" not in result.output
    assert control_value(app, RUBY_WORKER) is None


def test_workers_stop_all_skips_the_workers_that_are_not_pyresque(url: str, app: Resque) -> None:
    add_ruby_worker(app)
    add_pyresque_worker(app)
    data = run_json(url, "workers", "stop", "--all")
    assert data == {"command": "stop", "sent": [PYRESQUE_WORKER], "skipped": [RUBY_WORKER]}
    text = run(url, "workers", "quiet", "--all").stdout
    assert "skipped 1 worker: not live pyresque workers" in text
    assert control_value(app, PYRESQUE_WORKER) == b"stop n0nce"  # a quiet does not soften a stop


def test_workers_quiet_needs_ids_or_all(url: str, app: Resque) -> None:
    for args in ((), ("a:1:q", "--all")):
        result = run(url, "workers", "quiet", *args)
        assert result.exit_code == 2 and "give worker ids or --all (not both)" in result.output


def test_workers_without_a_sub_command_still_lists_them(url: str, app: Resque) -> None:
    add_pyresque_worker(app)
    assert [row["id"] for row in run_json(url, "workers")] == [PYRESQUE_WORKER]


def test_queues_pause_and_resume(url: str, app: Resque) -> None:
    result = run(url, "queues", "pause", "mail")
    assert result.exit_code == 0, result.output
    assert "paused queue mail for pyresque workers" in result.stdout
    assert "Ruby, PHP and node workers still take its jobs" in result.stdout
    assert "already paused" in run(url, "queues", "pause", "mail").stdout
    assert app.workers_control.paused_queues() == ["mail"]
    assert run_json(url, "queues", "resume", "mail") == {"queue": "mail", "changed": True, "paused": []}
    assert "was not paused" in run(url, "queues", "resume", "mail").stdout
    assert app.backend.client.smembers("resque:paused-queues") == set()  # type: ignore[attr-defined]


def test_the_wire_format_helpers() -> None:
    """What the workers (sync and, later, async) read: a command counts only for its nonce."""
    from pyresque.core.control import lease_nonce, parse_command, strongest_command

    assert lease_nonce(b"n0nce:3:pid:[1]") == "n0nce" and lease_nonce(None) is None
    assert parse_command(b"quiet n0nce", "n0nce") == "quiet"
    assert parse_command(b"stop n0nce", "other") is None  # left for an earlier process of the id
    assert parse_command(b"quiet", "any") == "quiet"  # written without a nonce: for whoever holds the id
    assert parse_command(b"reboot n0nce", "n0nce") is None and parse_command(None, "n0nce") is None
    assert parse_command(b"\xff\xfe", "n0nce") is None  # attacker-controlled bytes: nothing
    assert strongest_command([None, b"quiet n0nce", b"stop n0nce"], "n0nce") == "stop"
    assert strongest_command([None, b"quiet n0nce", b"stop old"], "n0nce") == "quiet"
    assert strongest_command([None, None], "n0nce") is None
