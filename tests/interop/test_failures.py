"""Failures cross both ways: pyresque's are managed by node-resque, node's by pyresque."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pyresque import FailureRecord, Resque
from tests.interop.node import NodeResque

pytestmark = [pytest.mark.interop, pytest.mark.redis]

ARGS: list[Any] = [1, 2.5, "a/b", "naïve ✓", {"deep": [None, {"x": "y/z"}]}, None]


def _raise(message: str) -> BaseException:
    try:
        raise ValueError(message)
    except ValueError as exc:
        return exc


def _pyresque_failure(app: Resque, queue: str, args: list[Any], message: str = "bad é/x") -> FailureRecord:
    """Record a failure exactly as pyresque writes one (a real exception, with traceback)."""
    payload = app.build_job(queue, "Record", args).to_payload()
    record = FailureRecord.from_exception(_raise(message), payload=payload, queue=queue, worker="host:1:q")
    app.failures.save(record)
    return record


def _raw_failed(node: NodeResque) -> list[bytes]:
    raws: list[bytes] = node.client.lrange("resque:failed", 0, -1)  # type: ignore[assignment]
    return raws


def test_node_lists_pyresque_failure_with_every_field(py: Resque, node: NodeResque) -> None:
    """node's failed()/failedCount() read pyresque's entry field for field."""
    record = _pyresque_failure(py, "jobs", ARGS)
    count, (listed,) = node.queue({"op": "failedCount"}, {"op": "failed"})
    assert count == 1
    assert listed == record.to_dict()
    assert list(listed) == ["failed_at", "payload", "exception", "error", "backtrace", "worker", "queue"]
    assert listed["payload"]["args"] == ARGS
    assert listed["exception"] == "ValueError"
    assert listed["error"] == "bad é/x"
    assert listed["backtrace"] and all(isinstance(line, str) for line in listed["backtrace"])


def test_node_retry_and_remove_matches_pyresque_bytes(py: Resque, node: NodeResque) -> None:
    """retryAndRemoveFailed finds pyresque's entry by exact bytes, removes it and re-enqueues the job."""
    _pyresque_failure(py, "retry", ARGS)
    raw = _raw_failed(node)[0]
    # node removes by LREM of JSON.stringify(JSON.parse(raw)): that must give back the same bytes
    assert json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False).encode() == raw
    retried, count = node.queue({"op": "retryAndRemoveFailedAt", "index": 0}, {"op": "failedCount"})
    assert retried is True
    assert count == 0
    (job,) = py.peek("retry", 0, 10)
    assert job.class_name == "Record"
    assert list(job.args) == ARGS
    # and a node worker performs the retried job with the same arguments
    node.work(["retry"], expect=1)
    assert node.performed()[0]["args"] == ARGS


def test_node_remove_failed_removes_pyresque_entry(py: Resque, node: NodeResque) -> None:
    """removeFailed (LREM by exact JSON) removes a pyresque entry and only that one."""
    _pyresque_failure(py, "a", [1])
    _pyresque_failure(py, "b", [2])
    removed, count = node.queue({"op": "removeFailedAt", "index": 1}, {"op": "failedCount"})
    assert removed == 1
    assert count == 1
    assert [r.queue for r in py.failures.all(0, -1)] == ["a"]


def test_integral_float_args_defeat_node_exact_byte_match(py: Resque, node: NodeResque) -> None:
    """Documented disagreement: pyresque (like Ruby) writes ``1.0``, JSON.stringify writes ``1``.

    node's retryAndRemoveFailed then finds no entry and throws; nothing is lost (the entry
    stays) and pyresque's index-based requeue handles it.
    """
    _pyresque_failure(py, "floaty", [1.0])
    (result,) = node.queue({"op": "retryAndRemoveFailedAt", "index": 0})
    assert result == {"error": "This job is not in failed queue"}
    assert py.failures.count() == 1
    assert py.size("floaty") == 0
    py.failures.requeue(0)
    assert [list(j.args) for j in py.peek("floaty", 0, 10)] == [[1.0]]


def test_pyresque_reads_node_failure(py: Resque, node: NodeResque) -> None:
    """A failure written by a node worker is listed by pyresque with node's fields."""
    node.queue({"op": "enqueue", "queue": "nodefail", "class": "Fail", "args": ["boom é/x"]})
    events = node.work(["nodefail"], expect=1)
    worker_name = next(e["name"] for e in events if e["event"] == "start")
    (record,) = py.failures.all(0, -1)
    assert py.failures.count() == 1
    assert py.failures.count("nodefail") == 1
    assert record.exception == "Error"
    assert record.error == "boom é/x"
    assert record.worker == worker_name  # node writes host:pid, without queues
    assert record.queue == "nodefail"
    assert record.payload == {"class": "Fail", "queue": "nodefail", "args": ["boom é/x"]}
    assert record.backtrace and record.backtrace[0].strip().startswith("at ")
    assert record.failed_at_time is not None


def _node_failure(node: NodeResque, queue: str, message: str = "boom") -> bytes:
    node.queue({"op": "enqueue", "queue": queue, "class": "Fail", "args": [message]})
    node.work([queue], expect=1)
    return _raw_failed(node)[-1]


def test_pyresque_requeues_node_failure_exactly(py: Resque, node: NodeResque) -> None:
    """requeue pushes node's payload back byte for byte; the entry stays, marked retried_at."""
    _node_failure(node, "rq")
    original_payload = json.loads(_raw_failed(node)[0])["payload"]
    py.failures.requeue(0)
    (raw_job,) = py.backend.broker.peek("rq", 0, -1)
    assert raw_job == json.dumps(original_payload, separators=(",", ":"), ensure_ascii=False).encode()
    assert raw_job == b'{"class":"Fail","queue":"rq","args":["boom"]}'
    (record,) = py.failures.all(0, -1)
    assert record.retried_at is not None
    # node still parses the entry and can still retry-and-remove it by exact bytes
    (listed,) = node.queue1(op="failed")
    assert listed["retried_at"] == record.retried_at
    retried, count, length = node.queue(
        {"op": "retryAndRemoveFailedAt", "index": 0}, {"op": "failedCount"}, {"op": "length", "queue": "rq"}
    )
    assert retried is True
    assert count == 0
    assert length == 2


def test_pyresque_removes_node_failures_by_index_queue_and_all(py: Resque, node: NodeResque) -> None:
    """remove(i), remove_queue(q), requeue_queue(q), clear_retried() and clear() work on node entries."""
    node.queue(
        *[{"op": "enqueue", "queue": q, "class": "Fail", "args": [f"m{i}"]} for i, q in enumerate("aabbc")]
    )
    node.work(["a", "b", "c"], expect=5)
    assert py.failures.count() == 5
    py.failures.remove(0)
    assert [r.payload["args"] for r in py.failures.all(0, -1)] == [["m1"], ["m2"], ["m3"], ["m4"]]
    assert py.failures.remove_queue("b") == 2
    assert py.failures.requeue_queue("c") == 1
    assert py.size("c") == 1
    assert py.failures.clear_retried() == 1
    assert [r.queue for r in py.failures.all(0, -1)] == ["a"]
    assert py.failures.clear() == 1
    assert node.queue1(op="failedCount") == 0
