"""The operator CLI on a Redis shared with node-resque: node's workers, jobs and failures."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pyresque import Resque
from pyresque.cli import main
from tests.interop.node import NodeResque, running, wait_for

pytestmark = [pytest.mark.interop, pytest.mark.redis]


def cli_json(url: str, *args: str) -> object:
    """``pyresque ARGS --json -r URL``, decoded (must succeed)."""
    result = CliRunner().invoke(main, [*args, "--json", "-r", url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_info_shows_busy_node_worker(py: Resque, node: NodeResque) -> None:
    """`pyresque info` and `pyresque workers` show a node worker and the job it runs."""
    node.queue1(op="enqueue", queue="slow", **{"class": "Block", "args": ["k"]})
    with running(node.start_worker(["slow"], expect=1)) as proc:
        wait_for(lambda: node.performed())
        info = cli_json(node.redis_url, "info")
        workers = cli_json(node.redis_url, "workers")
        node.release("k")
        proc.communicate(timeout=30)
    assert isinstance(info, dict) and (info["workers"], info["working"]) == (1, 1)
    assert isinstance(workers, list)
    (row,) = workers
    assert (row["pid"], row["queues"], row["state"]) == (proc.pid, ["slow"], "working")  # a number in --json
    assert (row["class"], row["args"], row["queue"]) == ("Block", ["k"], "slow")
    assert row["heartbeat"] is None  # node writes worker:ping:<name>, not Ruby's heartbeat


def test_cli_requeues_and_removes_node_failures(py: Resque, node: NodeResque) -> None:
    """`pyresque failed list/requeue/remove` manage failures a node worker wrote."""
    node.queue(
        {"op": "enqueue", "queue": "nf", "class": "Fail", "args": ["one"]},
        {"op": "enqueue", "queue": "nf", "class": "Fail", "args": ["two"]},
    )
    node.work(["nf"], expect=2)
    listed = cli_json(node.redis_url, "failed", "list")
    assert isinstance(listed, list)
    assert [(r["index"], r["error"], r["exception"]) for r in listed] == [
        (0, "one", "Error"),
        (1, "two", "Error"),
    ]
    assert cli_json(node.redis_url, "failed", "requeue", "1") == {"requeued": 1}
    assert node.queue1(op="queued", queue="nf") == [{"class": "Fail", "queue": "nf", "args": ["two"]}]
    assert cli_json(node.redis_url, "failed", "remove", "0") == {"removed": 1}
    (left,) = node.queue1(op="failed")
    assert left["error"] == "two" and "retried_at" in left
