"""pyresque enqueues, a node-resque worker performs."""

from __future__ import annotations

import json

import pytest

from pyresque import Resque
from tests.interop.node import NodeResque

pytestmark = [pytest.mark.interop, pytest.mark.redis]

ARGS = [
    7,
    -3,
    2**40,
    1.5,
    -0.25,
    "a/b/c",
    "héllo wörld ✓ 日本",
    'quote " back\\slash \n newline',
    {"nested": {"list": [1, "two", None, True], "empty": {}}, "k/é": []},
    None,
    False,
    [],
]


def test_node_worker_performs_pyresque_job_with_exact_args(py: Resque, node: NodeResque) -> None:
    """Every JSON type pyresque writes reaches the node job as the same value."""
    py.enqueue("interop", "Record", *ARGS)
    events = node.work(["interop"], expect=1)
    assert [e["event"] for e in events if e["event"] in ("success", "failure")] == ["success"]
    (done,) = node.performed()
    assert done["class"] == "Record"
    assert done["args"] == ARGS
    # node re-encodes what it received: byte-identical to pyresque's encoding of the args
    assert done["args_json"] == json.dumps(ARGS, separators=(",", ":"), ensure_ascii=False)
    assert py.size("interop") == 0


def test_node_worker_performs_jobs_in_queue_order(py: Resque, node: NodeResque) -> None:
    """Jobs pushed by pyresque are popped by node from the head, in order."""
    for i in range(5):
        py.enqueue("ordered", "Record", i)
    node.work(["ordered"], expect=5)
    assert [d["args"] for d in node.performed()] == [[i] for i in range(5)]


def test_node_sees_pyresque_queue_and_payload(py: Resque, node: NodeResque) -> None:
    """node's queues()/length()/queued() read pyresque's queue; extra payload fields are kept."""
    job_id = py.enqueue("seen", "Record", 1, "x/y")
    queues, length, queued = node.queue(
        {"op": "queues"}, {"op": "length", "queue": "seen"}, {"op": "queued", "queue": "seen"}
    )
    assert queues == ["seen"]
    assert length == 1
    (payload,) = queued
    assert payload["class"] == "Record"
    assert payload["args"] == [1, "x/y"]
    assert payload["id"] == job_id


def test_integral_floats_reach_node_as_numbers_without_fraction(py: Resque, node: NodeResque) -> None:
    """JS has one number type: 1.0 arrives equal to 1 and node re-encodes it as ``1``.

    Documented disagreement: pyresque writes ``1.0`` (as Ruby does), node writes ``1``;
    values compare equal, but the int/float distinction does not survive a trip through node.
    """
    py.enqueue("floats", "Record", 1.0, 1e20)
    node.work(["floats"], expect=1)
    (done,) = node.performed()
    assert done["args_json"] == "[1,100000000000000000000]"
    assert done["args"] == [1.0, 1e20]


def test_integers_beyond_2_53_lose_precision_in_node(py: Resque, node: NodeResque) -> None:
    """Documented limit: JS numbers are doubles, so 2**53 + 1 reaches a node job as 2**53."""
    py.enqueue("bigint", "Record", 2**53 + 1)
    node.work(["bigint"], expect=1)
    (done,) = node.performed()
    assert done["args"] == [2**53]


def test_node_worker_fails_unknown_pyresque_class_into_failed_list(py: Resque, node: NodeResque) -> None:
    """A class node does not define becomes a failure pyresque reads, with node's fields."""
    py.enqueue("missing", "Nope::Missing", "a/b")
    node.work(["missing"], expect=1)
    (record,) = py.failures.all(0, -1)
    assert record.payload["class"] == "Nope::Missing"
    assert record.payload["args"] == ["a/b"]
    assert record.error == 'No job defined for class "Nope::Missing"'
    assert record.exception == "Error"
    assert record.queue == "missing"
    assert record.failed_at_time is not None


def test_custom_namespace_is_shared(redis_url: str, node: NodeResque) -> None:
    """With the same namespace on both sides, node works pyresque's jobs under ``<ns>:``."""
    app = Resque(redis_url, namespace="shop")
    node.namespace = "shop"
    try:
        app.enqueue("ns", "Record", "in shop")
        node.work(["ns"], expect=1)
        assert node.performed()[0]["args"] == ["in shop"]
        assert node.client.exists("shop:queue:ns") == 0
        assert node.client.sismember("shop:queues", "ns")
        assert not node.client.exists("resque:queues")
    finally:
        app.close()
