"""Workers and stats seen across implementations: node-resque workers in pyresque's info."""

from __future__ import annotations

import json

import pytest

from pyresque import Resque
from pyresque.core import timefmt
from tests.interop.node import NodeResque, running, wait_for

pytestmark = [pytest.mark.interop, pytest.mark.redis]


def test_pyresque_info_shows_busy_node_worker(py: Resque, node: NodeResque) -> None:
    """While a node worker runs a job, pyresque's info and worker registry show it and its job."""
    node.queue(
        {"op": "enqueue", "queue": "slow", "class": "Block", "args": ["k1"]},
        {"op": "enqueue", "queue": "slow", "class": "Record", "args": ["after"]},
    )
    with running(node.start_worker(["slow"], expect=2)) as proc:
        wait_for(lambda: node.performed())
        info = py.info()
        (worker_id,) = py.backend.workers.all()
        working = py.backend.workers.working()
        node.release("k1")
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    name = json.loads(out.splitlines()[0])["name"]
    assert worker_id == f"{name}:slow"
    assert (info.workers, info.working, info.pending, info.queues) == (1, 1, 1, 1)
    record = working[worker_id]
    assert record["queue"] == "slow"
    assert record["worker"] == name
    assert record["payload"] == {"class": "Block", "queue": "slow", "args": ["k1"]}
    assert timefmt.parse_any(record["run_at"]) is not None
    # the node worker untracked itself on exit
    assert py.backend.workers.all() == []
    assert py.info().workers == 0


def test_stats_agree_after_node_worker(py: Resque, node: NodeResque) -> None:
    """pyresque reads node's counters: processed counts successes only (node), failed counts failures.

    Documented disagreement: Ruby's ``processed`` also counts failed jobs, node's does not;
    pyresque's ``info().failed`` is Ruby's LLEN of ``failed``, equal to node's counter here.
    """
    node.queue(
        {"op": "enqueue", "queue": "st", "class": "Record", "args": [1]},
        {"op": "enqueue", "queue": "st", "class": "Record", "args": [2]},
        {"op": "enqueue", "queue": "st", "class": "Fail", "args": ["x"]},
    )
    node.work(["st"], expect=3)
    stats = node.queue1(op="stats")
    assert stats == {"processed": "2", "failed": "1"}
    assert py.backend.stats.get("processed") == 2
    assert py.backend.stats.get("failed") == 1
    info = py.info()
    assert (info.processed, info.failed, info.pending) == (2, 1, 0)
