"""A pyresque worker next to node-resque: performing node's jobs, seen by node's Queue API."""

from __future__ import annotations

import json
import signal
import socket
import time
from typing import Any

import pytest

from pyresque import Resque
from pyresque.core import timefmt
from pyresque.core.scheduling.scheduler import Scheduler
from tests.interop.node import NodeResque, run_py_worker, running, start_py_worker, wait_for

pytestmark = [pytest.mark.interop, pytest.mark.redis]

ARGS: list[Any] = [
    7,
    -3,
    2**40,
    1.5,
    "a/b/c",
    "héllo wörld ✓ 日本",
    'quote " back\\slash \n newline',
    {"nested": {"list": [1, "two", None, True], "empty": {}}, "k/é": []},
    None,
    False,
    [],
]


def test_pyresque_worker_performs_node_job_with_exact_args(py: Resque, node: NodeResque) -> None:
    """Every JSON type node writes reaches the pyresque job as the same value and bytes."""
    node.queue1(op="enqueue", queue="fromnode", **{"class": "Record", "args": ARGS})
    run_py_worker(node.redis_url, "fromnode")
    (done,) = node.performed()
    assert done["by"] == "pyresque"
    assert done["args"] == ARGS
    # byte-identical to JSON.stringify of the same args
    assert done["args_json"] == json.dumps(ARGS, separators=(",", ":"), ensure_ascii=False)
    assert py.size("fromnode") == 0
    assert py.failures.count() == 0


def test_pyresque_worker_performs_node_enqueue_at_after_pyresque_scheduler(
    py: Resque, node: NodeResque
) -> None:
    """node enqueueAt -> pyresque scheduler promotes -> pyresque worker performs."""
    node.queue1(
        op="enqueueAt",
        timestamp_ms=int(time.time() - 2) * 1000,
        queue="later",
        **{"class": "Record", "args": ARGS},
    )
    assert Scheduler(py, interval=0.1).poll().promoted.promoted == 1
    run_py_worker(node.redis_url, "later")
    assert [d["args"] for d in node.performed()] == [ARGS]


def test_node_sees_busy_pyresque_worker(py: Resque, node: NodeResque) -> None:
    """node's workers() and allWorkingOn() show a pyresque worker and the job it runs."""
    node.queue1(op="enqueue", queue="slow", **{"class": "Block", "args": ["k1"]})
    with running(start_py_worker(node.redis_url, "slow", "--mode", "inprocess")) as proc:
        wait_for(lambda: node.performed())
        workers, working = node.queue({"op": "workers"}, {"op": "allWorkingOn"})
        (worker_id,) = py.backend.workers.all()
        node.release("k1")
        wait_for(lambda: not py.backend.workers.working())
        proc.send_signal(signal.SIGQUIT)
        proc.communicate(timeout=20)
    host, pid, queues = worker_id.split(":", 2)
    assert host == socket.gethostname() and queues == "slow" and int(pid) == proc.pid
    assert workers == {f"{host}:{pid}": "slow"}
    record = working[f"{host}:{pid}"]  # node keys allWorkingOn by the record's "worker" field
    assert record["queue"] == "slow"
    assert record["payload"] == {"class": "Block", "queue": "slow", "args": ["k1"]}
    assert record["worker"] == f"{host}:{pid}"  # node's worker name, so node merges the two views
    ran = timefmt.parse_any(record["run_at"])  # Ruby's UTC ISO-8601; node's Date.parse reads it too
    assert record["run_at"].endswith("Z") and ran is not None and abs(time.time() - ran.timestamp()) < 60
    assert list(working) == [f"{host}:{pid}"]  # one entry: no separate "started" line
    assert node.queue1(op="workers") == {}  # the worker unregistered on QUIT


def test_node_lists_and_retries_failure_written_by_pyresque_worker(py: Resque, node: NodeResque) -> None:
    """A failure recorded by a real pyresque worker is listed by node and retried by exact bytes."""
    node.queue1(op="enqueue", queue="pyfail", **{"class": "Fail", "args": ["boom é/x"]})
    run_py_worker(node.redis_url, "pyfail")
    (listed,) = node.queue1(op="failed")
    assert listed["exception"] == "RuntimeError"
    assert listed["error"] == "boom é/x"
    assert listed["queue"] == "pyfail"
    assert listed["payload"] == {"class": "Fail", "queue": "pyfail", "args": ["boom é/x"]}
    assert listed["worker"].endswith(":pyfail")
    assert listed["backtrace"] and all(isinstance(line, str) for line in listed["backtrace"])
    retried, count, queued = node.queue(
        {"op": "retryAndRemoveFailedAt", "index": 0},
        {"op": "failedCount"},
        {"op": "queued", "queue": "pyfail"},
    )
    assert retried is True and count == 0
    assert queued == [{"class": "Fail", "queue": "pyfail", "args": ["boom é/x"]}]


def test_stats_after_pyresque_worker_agree_with_node(py: Resque, node: NodeResque) -> None:
    """node's stats() reads pyresque's counters; pyresque counts a failed job as processed (Ruby),
    where a node worker would not (documented disagreement)."""
    node.queue(
        {"op": "enqueue", "queue": "st", "class": "Record", "args": [1]},
        {"op": "enqueue", "queue": "st", "class": "Record", "args": [2]},
        {"op": "enqueue", "queue": "st", "class": "Fail", "args": ["x"]},
    )
    run_py_worker(node.redis_url, "st", "--mode", "inprocess")
    assert node.queue1(op="stats") == {"processed": "3", "failed": "1"}
    info = py.info()
    assert (info.processed, info.failed, info.workers) == (3, 1, 0)


def test_mixed_node_and_pyresque_workers_run_each_job_once(py: Resque, node: NodeResque) -> None:
    """A node worker and a pyresque worker on one queue share the jobs: each performed exactly once."""
    total = 200
    with (
        running(node.start_worker(["mixed"], expect=total, timeout=30)) as node_proc,
        running(start_py_worker(node.redis_url, "mixed", "--mode", "inprocess")) as py_proc,
    ):
        wait_for(lambda: len(py.backend.workers.all()) == 2)
        node.queue(
            *[{"op": "enqueue", "queue": "mixed", "class": "Record", "args": [i]} for i in range(total)]
        )
        wait_for(lambda: len(node.performed()) >= total, timeout=30)
        wait_for(lambda: py.size("mixed") == 0 and not py.backend.workers.working(), timeout=10)
        py_proc.send_signal(signal.SIGQUIT)
        py_proc.communicate(timeout=20)
        node_proc.kill()
        node_proc.communicate(timeout=10)
    performed = node.performed()
    assert sorted(d["args"][0] for d in performed) == list(range(total))
    assert {d.get("by", "node") for d in performed} == {"node", "pyresque"}  # both took a share
    assert py.failures.count() == 0


def test_node_clean_old_workers_reaps_busy_pyresque_workers_its_own_way(py: Resque, node: NodeResque) -> None:
    """node's cleanOldWorkers finds a busy pyresque worker by the record's ``worker``
    field (``host:pid``, node's worker name) and force-cleans it as it would one of its
    own: a readable failure record, the worker untracked. The pyresque worker still
    finishes the job it runs (node does not stop it), so the job is not lost; it is
    recorded failed by node and completed by pyresque, node's stuck-worker semantics."""
    node.queue1(op="enqueue", queue="slow", **{"class": "Block", "args": ["k2"]})
    with running(start_py_worker(node.redis_url, "slow", "--mode", "inprocess")) as proc:
        wait_for(lambda: node.performed())
        assert len(py.backend.workers.working()) == 1
        cleaned = node.queue1(op="cleanOldWorkers", age_ms=0)
        busy = py.backend.workers.working()
        node.release("k2")
        wait_for(lambda: py.backend.stats.get("processed") >= 1)
        proc.send_signal(signal.SIGQUIT)
        proc.communicate(timeout=20)
    name = f"{socket.gethostname()}:{proc.pid}"
    assert list(cleaned) == [name]
    assert cleaned[name]["error"] == "Worker Timeout (killed manually)"
    assert busy == {}  # node deleted the job record
    (record,) = py.failures.all(0, -1)  # node's failure record, readable by pyresque
    assert record.error == "Worker Timeout (killed manually)" and record.payload["args"] == ["k2"]
    assert [d["args"] for d in node.performed()] == [["k2"]]  # the job ran once, to the end


def test_pyresque_worker_in_custom_namespace_performs_node_jobs(redis_url: str, node: NodeResque) -> None:
    """With --prefix equal to node's namespace, a pyresque worker performs node's jobs there only."""
    node.namespace = "shop"
    node.queue1(op="enqueue", queue="ns", **{"class": "Record", "args": ["in shop"]})
    node.namespace = "resque"
    node.queue1(op="enqueue", queue="ns", **{"class": "Record", "args": ["in resque"]})
    run_py_worker(redis_url, "ns", namespace="shop")
    assert [d["args"] for d in node.performed()] == [["in shop"]]
    assert node.client.llen("shop:queue:ns") == 0
    assert node.client.llen("resque:queue:ns") == 1
