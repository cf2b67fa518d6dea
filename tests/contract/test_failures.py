"""Failure store contract: Ruby Resque's failed list and its management semantics."""

from __future__ import annotations

import json

import pytest

from pyresque import FailureNotFound, FailureRecord, Resque
from pyresque.backends.redis import RedisBackend


def _record(queue: str, n: int) -> FailureRecord:
    try:
        raise ValueError(f"bad {n}")
    except ValueError as exc:
        return FailureRecord.from_exception(
            exc, payload={"class": "Add", "args": [n, n]}, queue=queue, worker="h:1:" + queue
        )


def test_save_count_and_range(backend: RedisBackend) -> None:
    """Failures are appended and listed oldest first, by range."""
    for n in range(5):
        backend.failures.save(_record("a" if n % 2 else "b", n))
    assert backend.failures.count() == 5
    assert backend.failures.count("a") == 2
    listed = backend.failures.all(1, 2)
    assert [r.payload["args"] for r in listed] == [[1, 1], [2, 2]]
    assert listed[0].exception == "ValueError" and listed[0].error == "bad 1"
    assert len(backend.failures.all(0, -1)) == 5


def test_requeue_keeps_entry_marks_retried_and_enqueues(app: Resque, backend: RedisBackend) -> None:
    """requeue(i) pushes the payload back; the entry stays with retried_at."""
    backend.failures.save(_record("a", 7))
    backend.failures.requeue(0)
    assert backend.failures.count() == 1
    entry = backend.failures.all(0, 1)[0]
    assert entry.retried_at is not None and entry.failed_at
    assert [j.args for j in app.peek("a", 0, 5)] == [(7, 7)]
    assert app.queues() == ["a"]
    backend.failures.requeue(0, queue="other")
    assert app.size("other") == 1


def test_remove_and_missing_index(backend: RedisBackend) -> None:
    """remove(i) deletes exactly that entry; a missing index raises FailureNotFound."""
    for n in range(3):
        backend.failures.save(_record("a", n))
    backend.failures.remove(1)
    assert [r.payload["args"][0] for r in backend.failures.all(0, -1)] == [0, 2]
    with pytest.raises(FailureNotFound):
        backend.failures.remove(10)
    with pytest.raises(FailureNotFound):
        backend.failures.requeue(10)


def test_bulk_operations_by_queue(app: Resque, backend: RedisBackend) -> None:
    """requeue_all, requeue_queue, remove_queue, clear_retried and clear."""
    for n in range(6):
        backend.failures.save(_record("a" if n < 4 else "b", n))
    assert backend.failures.requeue_queue("b") == 2
    assert app.size("b") == 2 and app.size("a") == 0
    assert backend.failures.clear_retried() == 2
    assert backend.failures.count() == 4
    assert backend.failures.requeue_all() == 4
    assert app.size("a") == 4
    assert backend.failures.remove_queue("a") == 4
    backend.failures.save(_record("c", 9))
    assert backend.failures.clear() == 1 and backend.failures.count() == 0


def test_foreign_and_garbage_entries_are_listed_not_fatal(backend: RedisBackend) -> None:
    """A node-resque record and a non-JSON entry are both listed readably."""
    node = {
        "worker": "vm:15255",
        "queue": "math",
        "payload": {"class": "add", "queue": "math", "args": [1, 2]},
        "exception": "Error",
        "error": "nope",
        "backtrace": None,
        "failed_at": "Mon Nov 23 2026 17:23:37 GMT+0000 (Coordinated Universal Time)",
    }
    backend.client.rpush(backend.keys.failed, json.dumps(node), b"garbage{")
    node_rec, garbage = backend.failures.all(0, 2)
    assert node_rec.queue == "math" and node_rec.backtrace == [] and node_rec.worker == "vm:15255"
    assert node_rec.failed_at_time is not None and node_rec.failed_at_time.year == 2026
    assert garbage.exception == "pyresque.DecodeError" and garbage.payload["raw"] == "garbage{"
