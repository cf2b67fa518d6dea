"""The operator CLI: ``failed list|show|requeue|remove|clear`` and ``prune`` (on a shared fakeredis)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

from pyresque import FailureRecord, Resque
from pyresque.core import timefmt
from tests.unit.cli_support import (
    dead_pid,
    fail_job,
    run,
    run_json,
)


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


def test_failed_list_shows_index_and_filters_by_queue(url: str, app: Resque) -> None:
    """`failed list` numbers entries from 0 and --queue keeps those indexes."""
    fail_job(app, "a", "A", [0])
    fail_job(app, "b", "B", [1], "second é")
    fail_job(app, "a", "A", [2])
    rows = run_json(url, "failed", "list", "--queue", "a")
    assert [(r["index"], r["payload"]["args"]) for r in rows] == [(0, [0]), (2, [2])]
    everything = run_json(url, "failed", "list")
    assert [r["index"] for r in everything] == [0, 1, 2]
    assert everything[1]["error"] == "second é" and everything[1]["exception"] == "RuntimeError"
    lines = run(url, "failed", "list").stdout.splitlines()
    assert lines[0].split()[:3] == ["#", "FAILED", "AT"]
    assert "second é" in lines[2]


def test_failed_requeue_by_index_keeps_entry_and_pushes_job(url: str, app: Resque) -> None:
    """`failed requeue 1` pushes that job back; the entry stays, marked retried (Ruby)."""
    fail_job(app, "a", "A", [0])
    fail_job(app, "b", "B", [1])
    assert run_json(url, "failed", "requeue", "1") == {"requeued": 1}
    assert [list(j.args) for j in app.peek("b", 0, 10)] == [[1]]
    assert app.size("a") == 0
    assert [r.retried_at is not None for r in app.failures.all(0, -1)] == [False, True]


def test_failed_requeue_to_other_queue(url: str, app: Resque) -> None:
    """--to sends the requeued job to another queue."""
    fail_job(app, "a", "A", [7])
    assert run(url, "failed", "requeue", "0", "--to", "retry").exit_code == 0
    assert [list(j.args) for j in app.peek("retry")] == [[7]]


def test_failed_requeue_by_queue_and_all(url: str, app: Resque) -> None:
    """--queue requeues that queue's failures; --all every failure."""
    fail_job(app, "a", "A", [0])
    fail_job(app, "b", "B", [1])
    fail_job(app, "a", "A", [2])
    assert run_json(url, "failed", "requeue", "--queue", "a") == {"requeued": 2}
    assert app.size("a") == 2 and app.size("b") == 0
    assert run_json(url, "failed", "requeue", "--all") == {"requeued": 3}
    assert app.size("a") == 4 and app.size("b") == 1


def test_failed_requeue_missing_index_is_an_error(url: str, app: Resque) -> None:
    """Requeueing an index that does not exist fails with a message naming it."""
    fail_job(app, "a", "A", [0])
    result = run(url, "failed", "requeue", "5")
    assert result.exit_code == 1
    assert "failure 5" in result.stderr
    assert app.size("a") == 0


@pytest.mark.parametrize("args", [(), ("0", "--all"), ("--queue", "a", "--all")])
def test_failed_requeue_needs_exactly_one_selection(url: str, args: tuple[str, ...]) -> None:
    """Without a selection, or with two, the command refuses (usage error)."""
    result = run(url, "failed", "requeue", *args)
    assert result.exit_code == 2
    assert "exactly one" in result.stderr


def test_failed_remove_several_indexes(url: str, app: Resque) -> None:
    """`failed remove 0 2` removes both entries, whatever the order given."""
    for i in range(4):
        fail_job(app, "a", "A", [i])
    assert run_json(url, "failed", "remove", "0", "2") == {"removed": 2}
    assert [r.payload["args"] for r in app.failures.all(0, -1)] == [[1], [3]]


def test_failed_remove_by_queue_and_all(url: str, app: Resque) -> None:
    """--queue removes that queue's failures; --all (confirmed with -y) removes the rest."""
    fail_job(app, "a", "A", [0])
    fail_job(app, "b", "B", [1])
    fail_job(app, "a", "A", [2])
    assert run_json(url, "failed", "remove", "--queue", "a") == {"removed": 2}
    assert app.failures.count() == 1
    assert run_json(url, "failed", "remove", "--all", "-y") == {"removed": 1}
    assert app.failures.count() == 0


def test_failed_clear_asks_first(url: str, app: Resque) -> None:
    """`failed clear` asks; answering no keeps everything, yes deletes it."""
    fail_job(app, "a", "A", [0])
    refused = run(url, "failed", "clear", input="n\n")
    assert refused.exit_code == 1
    assert app.failures.count() == 1
    accepted = run(url, "failed", "clear", input="y\n")
    assert accepted.exit_code == 0 and "removed 1 failed job" in accepted.stdout
    assert app.failures.count() == 0


def test_failed_clear_retried_only(url: str, app: Resque) -> None:
    """`failed clear --retried -y` keeps failures never requeued."""
    fail_job(app, "a", "A", [0])
    fail_job(app, "a", "A", [1])
    app.failures.requeue(0)
    assert run_json(url, "failed", "clear", "--retried", "-y") == {"removed": 1}
    assert [r.payload["args"] for r in app.failures.all(0, -1)] == [[1]]


def test_failed_show_prints_one_record_in_full(url: str, app: Resque) -> None:
    """`failed show N` prints the error, payload and backtrace; --json the record; a bad index errors."""
    try:
        raise KeyError("missing é")
    except KeyError as exc:
        payload = app.build_job("q", "A", [1, "a/b"]).to_payload()
        app.failures.save(FailureRecord.from_exception(exc, payload=payload, queue="q", worker="h:1:q"))
    text = run(url, "failed", "show", "0").stdout
    assert "exception:  KeyError" in text and "'missing é'" in text
    assert '"args": [1, "a/b"]' in text
    assert "test_cli_failed.py" in text  # the backtrace
    assert run_json(url, "failed", "show", "0")["index"] == 0
    missing = run(url, "failed", "show", "3")
    assert missing.exit_code == 1 and "no failure at index 3" in missing.stderr


def test_prune_removes_dead_local_worker_and_fails_its_job(url: str, app: Resque) -> None:
    """A worker on this host whose process is gone is unregistered; its job becomes a failure."""
    client = app.backend.client  # type: ignore[attr-defined]
    dead = f"{socket.gethostname()}:{dead_pid()}:high"
    alive = f"{socket.gethostname()}:{os.getppid()}:low"
    held = app.encode(app.build_job("high", "Foo::Bar", [1]))
    client.sadd("resque:workers", dead, alive)
    client.set(
        f"resque:worker:{dead}", b'{"queue":"high","run_at":"2026-11-23T17:23:27Z","payload":' + held + b"}"
    )
    data = run_json(url, "prune")
    assert data == {"pruned": [dead]}
    assert app.backend.workers.all() == [alive]
    (record,) = app.failures.all(0, -1)
    assert (record.exception, record.worker, record.payload["class"]) == (
        "pyresque.WorkerLost",
        dead,
        "Foo::Bar",
    )


def test_prune_stale_heartbeat_any_host_and_requeue(url: str, app: Resque) -> None:
    """A heartbeat older than --prune-interval prunes a remote worker; --recover requeue requeues its job."""
    client = app.backend.client  # type: ignore[attr-defined]
    stale = "elsewhere:123:q"
    fresh = "elsewhere:124:q"
    held = app.encode(app.build_job("q", "Foo::Bar", [2]))
    client.sadd("resque:workers", stale, fresh)
    client.hset("resque:workers:heartbeat", stale, "2020-01-01T00:00:00+00:00")
    client.hset("resque:workers:heartbeat", fresh, timefmt.heartbeat_time())
    client.set(
        f"resque:worker:{stale}", b'{"queue":"q","run_at":"2020-01-01T00:00:00Z","payload":' + held + b"}"
    )
    result = run(url, "prune", "--recover", "requeue", "--prune-interval", "60")
    assert result.exit_code == 0, result.output
    assert f"pruned {stale}" in result.stdout and "pruned 1 dead worker" in result.stdout
    assert app.backend.workers.all() == [fresh]
    assert [list(j.args) for j in app.peek("q")] == [[2]]
    assert app.failures.count() == 0


def test_prune_keeps_workers_without_evidence_of_death(url: str, app: Resque) -> None:
    """Remote workers without heartbeats (node, PHP) are left alone."""
    app.backend.client.sadd("resque:workers", "nodebox:99:q")  # type: ignore[attr-defined]
    assert run_json(url, "prune") == {"pruned": []}
    assert app.backend.workers.all() == ["nodebox:99:q"]


def test_failed_show_negative_index_counts_from_the_end(url: str, app: Resque) -> None:
    """`failed show -1` is the latest failure, -2 the one before; too far back exits 1."""
    fail_job(app, "a", "A", [0], "first")
    fail_job(app, "a", "A", [1], "latest")
    assert run_json(url, "failed", "show", "-1")["error"] == "latest"
    assert run_json(url, "failed", "show", "-2")["index"] == 0
    assert "latest" in run(url, "failed", "show", "-1").stdout
    too_far = run(url, "failed", "show", "-3")
    assert too_far.exit_code == 1 and too_far.stderr.strip() == "Error: no failure at index -3 (there are 2)"


def test_failed_requeue_all_not_retried_skips_retried_entries(url: str, app: Resque) -> None:
    """`failed requeue --all --not-retried` requeues only entries without retried_at, so a
    second run requeues nothing more; --queue narrows it."""
    fail_job(app, "a", "A", [0])
    fail_job(app, "b", "B", [1])
    fail_job(app, "a", "A", [2])
    app.failures.requeue(0)
    assert app.size("a") == 1
    assert run_json(url, "failed", "requeue", "--queue", "a", "--not-retried") == {"requeued": 1}
    assert [list(j.args) for j in app.peek("a", 0, 10)] == [[0], [2]]
    assert run_json(url, "failed", "requeue", "--all", "--not-retried") == {"requeued": 1}
    assert run_json(url, "failed", "requeue", "--all", "--not-retried") == {"requeued": 0}
    assert app.size("a") == 2 and app.size("b") == 1
    assert all(r.retried_at is not None for r in app.failures.all(0, -1))
    assert run(url, "failed", "requeue", "1", "--not-retried").exit_code == 2
