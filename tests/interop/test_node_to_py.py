"""node-resque enqueues (now and delayed), pyresque reads, removes and performs."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pyresque import Resque
from tests.interop.node import NodeResque

pytestmark = [pytest.mark.interop, pytest.mark.redis]

ARGS: list[Any] = [1, 2.5, "a/b", "ünï ✓", {"k": [None, True]}, None]


def test_pyresque_decodes_node_payload(py: Resque, node: NodeResque) -> None:
    """A node payload ({class, queue, args}) reads as a Job with node's ``queue`` kept as extra."""
    node.queue1(op="enqueue", queue="fromnode", **{"class": "Record", "args": ARGS})
    assert py.queues() == ["fromnode"]
    assert py.size("fromnode") == 1
    (raw,) = py.backend.broker.peek("fromnode", 0, -1)
    (job,) = py.peek("fromnode")
    assert job.class_name == "Record"
    assert list(job.args) == ARGS
    assert job.id is None
    assert dict(job.extra) == {"queue": "fromnode"}
    # re-encoding keeps node's field order: what pyresque would push back is node's exact bytes
    assert py.serializer.dumps(job.to_payload()) != raw  # pyresque puts args before queue ...
    assert sorted(job.to_payload()) == ["args", "class", "queue"]


def test_pyresque_dequeue_removes_node_jobs_by_class_and_args(py: Resque, node: NodeResque) -> None:
    """dequeue(queue, class, *args) removes node-written jobs (decoded, then LREM of exact bytes)."""
    node.queue(
        {"op": "enqueue", "queue": "dq", "class": "Record", "args": [1, "a/b"]},
        {"op": "enqueue", "queue": "dq", "class": "Record", "args": [2]},
        {"op": "enqueue", "queue": "dq", "class": "Other", "args": [1, "a/b"]},
    )
    assert py.dequeue("dq", "Record", 1, "a/b") == 1
    assert [p["args"] for p in node.queue1(op="queued", queue="dq")] == [[2], [1, "a/b"]]
    assert py.dequeue("dq", "Record") == 1
    assert node.queue1(op="length", queue="dq") == 1


def test_node_del_cannot_match_pyresque_payloads(py: Resque, node: NodeResque) -> None:
    """Documented disagreement: node's ``del`` LREMs its own encoding, so it never matches
    pyresque's payload (which carries ``id``/``queue_time``); ``delByFunction`` decodes and works."""
    py.enqueue("nd", "Record", 1)
    assert node.queue1(op="del", queue="nd", args=[1], **{"class": "Record"}) == 0
    assert py.size("nd") == 1
    assert node.queue1(op="delByFunction", queue="nd", **{"class": "Record"}) == 1
    assert py.size("nd") == 0


def test_pyresque_reads_node_delayed_items(py: Resque, node: NodeResque) -> None:
    """enqueueAt writes resque-scheduler keys that pyresque's delayed store reads exactly."""
    at = int(time.time()) + 3600
    node.queue1(op="enqueueAt", timestamp_ms=at * 1000, queue="later", **{"class": "Record", "args": ARGS})
    delayed = py.backend.delayed
    assert delayed.timestamps() == [at]
    assert delayed.count() == 1
    (item,) = delayed.items_at(at)
    assert delayed.scheduled_at(item) == [at]
    decoded = py.serializer.loads(item)
    assert decoded == {"class": "Record", "queue": "later", "args": ARGS}
    assert list(decoded) == ["class", "queue", "args"]


def test_pyresque_removing_node_delayed_item_is_seen_by_node(py: Resque, node: NodeResque) -> None:
    """Removing a node-written delayed item in pyresque clears node's view of it too."""
    at = int(time.time()) + 3600
    op = {"queue": "later", "class": "Record", "args": ["x/y"]}
    node.queue1(op="enqueueAt", timestamp_ms=at * 1000, **op)
    assert node.queue1(op="scheduledAt", **op) == [at]
    (item,) = py.backend.delayed.items_at(at)
    assert py.backend.delayed.remove(item) == 1
    assert node.queue1(op="scheduledAt", **op) == []
    assert py.backend.delayed.timestamps() == []
    assert not node.client.exists(f"resque:delayed:{at}")
