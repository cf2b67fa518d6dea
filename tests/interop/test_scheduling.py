"""Delayed jobs across schedulers: node's enqueueAt moved by pyresque, pyresque's by node."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from pyresque import Resque
from pyresque.core.scheduling.scheduler import Scheduler
from tests.interop.node import NodeResque, running, wait_for

pytestmark = [pytest.mark.interop, pytest.mark.redis]

ARGS: list[Any] = [3, 0.5, "a/b", "é ✓", {"k": [None]}, None]


def test_pyresque_scheduler_moves_node_enqueue_at_for_a_node_worker(py: Resque, node: NodeResque) -> None:
    """A due node enqueueAt item is moved by pyresque's scheduler, byte for byte, and node performs it."""
    op = {"queue": "later", "class": "Record", "args": ARGS}
    node.queue1(op="enqueueAt", timestamp_ms=int(time.time() - 5) * 1000, **op)
    (item,) = py.backend.delayed.items_at(py.delayed_timestamps()[0])
    result = Scheduler(py, interval=0.1).poll()
    assert result.leader and result.promoted.promoted == 1
    assert py.backend.broker.peek("later", 0, -1) == [item]
    assert py.delayed_count() == 0
    assert node.queue1(op="scheduledAt", **op) == []  # the reverse index was cleaned too
    node.work(["later"], expect=1)
    assert node.performed()[0]["args"] == ARGS


def test_node_scheduler_moves_pyresque_enqueue_at(py: Resque, node: NodeResque) -> None:
    """An item pyresque scheduled (Ruby's encoding) is moved by node's scheduler and performed by node."""
    py.enqueue_at(int(time.time()) + 2, "later", "Record", *ARGS)
    assert py.scheduled_at("later", "Record", *ARGS) != []
    events = node.schedule(poll_ms=50)
    assert [e["job"]["args"] for e in events if e["event"] == "transferredJob"] == [ARGS]
    assert py.scheduled_at("later", "Record", *ARGS) == []  # node removed it from the index
    (job,) = py.peek("later")
    assert (job.class_name, list(job.args)) == ("Record", ARGS)
    node.work(["later"], expect=1)
    assert node.performed()[0]["args"] == ARGS


def test_node_does_not_see_pyresque_items_by_value(py: Resque, node: NodeResque) -> None:
    """Documented disagreement: scheduledAt/delDelayed match node's own bytes only.

    pyresque writes resque-scheduler's field order (class, args, queue), node its own
    (class, queue, args), so each side's by-value lookups see only its own items.
    """
    at = int(time.time()) + 3600
    py.enqueue_at(at, "later", "Record", 1)
    op = {"queue": "later", "class": "Record", "args": [1]}
    assert node.queue1(op="scheduledAt", **op) == []
    node.queue1(op="enqueueAt", timestamp_ms=at * 1000, **op)
    assert node.queue1(op="scheduledAt", **op) == [at]
    assert py.scheduled_at("later", "Record", 1) == [at]
    assert py.delayed_size_at(at) == 2
    assert py.remove_delayed("later", "Record", 1) == 1
    assert node.queue1(op="delDelayed", **op) == [at]
    assert py.delayed_count() == 0


def test_node_and_pyresque_schedulers_both_lead_on_different_lock_keys(py: Resque, node: NodeResque) -> None:
    """The scheduler lock caveat: node's leader lock and resque-scheduler's (which pyresque
    uses) are different keys, so both schedulers lead at once on one Redis."""
    with running(node.start_scheduler(poll_ms=50, min_ms=1500, timeout=20)) as proc:
        wait_for(lambda: node.client.get("resque:resque_scheduler_leader_lock"))
        scheduler = Scheduler(py, interval=0.1, name="pyhost:1")
        assert scheduler.poll().leader
        assert node.client.get("resque:resque:resque_scheduler_master_lock") == b"pyhost:1"
        holder = node.client.get("resque:resque_scheduler_leader_lock")
        assert holder is not None and holder != b"pyhost:1"
        scheduler.lock.release()
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_concurrent_node_and_pyresque_schedulers_move_each_item_once(py: Resque, node: NodeResque) -> None:
    """With both schedulers promoting the same due items, every item is enqueued exactly once."""
    at = int(time.time()) + 1
    for i in range(300):  # the bytes enqueue_at writes, never enqueued at once even if this is slow
        py.backend.delayed.schedule(at, py.delayed_item("race", "Record", i))
    with running(node.start_scheduler(poll_ms=10, timeout=30)) as proc:
        # node moves items once Math.round(now) reaches them (half a second early): give
        # pyresque's scheduler the same view so both race for every item
        scheduler = Scheduler(py, interval=0.1, batch_size=5, clock=lambda: time.time() + 0.5)
        py_moved = 0
        deadline = time.monotonic() + 20
        while (py.delayed_count() or time.time() < at) and time.monotonic() < deadline:
            py_moved += scheduler.poll().promoted.promoted
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    node_moved = sum(1 for line in out.splitlines() if json.loads(line)["event"] == "transferredJob")
    jobs = py.peek("race", 0, -1)
    assert sorted(j.args[0] for j in jobs) == list(range(300))
    assert py_moved + node_moved == 300
