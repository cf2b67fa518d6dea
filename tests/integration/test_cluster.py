"""Redis Cluster: real clusters started here (tests/sentinel_cluster.py: ``redis-server
--cluster-enabled yes`` nodes joined by ``redis-cli --cluster create``), an app and real
workers on ``redis+cluster://``.

The namespace goes in a hash tag (``{resque}``), so every key (those a script builds
inside Lua too: a popped job's status key, ``:done`` notifications, delayed lists)
lives in one slot, on one master; a drain runs every worker script there. A manual
``CLUSTER FAILOVER`` and a ``kill -9`` of that master during a drain move the slot:
the workers follow (``MOVED`` / a refused connection -> look the owner up again)
without a restart, and the audit counts every job.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pyresque import Resque
from pyresque.backends.redis.cluster_redirects import GUARDED
from tests.chaos.audit import audit, held_jobs
from tests.chaos.chaos_jobs import RUNS_KEY, URL_ENV
from tests.redis_server import RedisServer, in_ci
from tests.sentinel_cluster import Cluster, Node
from tests.worker_proc import ROOT, start_worker, stop, wait_for

NS = "{resque}"
QUEUE = "clustered"
FLAGS = ("--heartbeat-interval", "1", "--prune-interval", "10", "--interval", "0.2")


def _cluster(replicas_each: int = 0) -> Cluster:
    cluster = Cluster(3, replicas_each)
    try:
        cluster.start()
    except (FileNotFoundError, RuntimeError, subprocess.SubprocessError) as exc:
        cluster.close()
        if in_ci():
            raise
        pytest.skip(f"cannot start a Redis Cluster: {exc}")
    return cluster


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = _cluster()
    yield c
    c.close()


@pytest.fixture
def truth() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


def test_every_key_of_the_namespace_lives_on_the_slot_owner(cluster: Cluster) -> None:
    app = Resque(cluster.url())
    assert app.backend.keys.namespace == NS  # "resque" wrapped in a hash tag
    tracked = app.enqueue(QUEUE, "Job", 1, track_status=True)
    app.enqueue(QUEUE, "Job", 2, idempotency_key="once", retries=2)
    app.enqueue_many([(QUEUE, "Job", (i,)) for i in range(5)])
    later = app.enqueue_at(time.time() + 3600, QUEUE, "Job", 3)
    assert app.size(QUEUE) == 7
    assert app.remove_delayed_by_id(later) == 1  # REMOVE_DELAYED_ID builds its keys in Lua
    owner = cluster.owner_of(NS)
    assert owner.client().exists(f"{NS}:job:{tracked}:status")
    assert all(n.client().dbsize() == 0 for n in cluster.nodes if n is not owner)
    app.close()


def test_an_explicit_hash_tag_is_kept(cluster: Cluster) -> None:
    app = Resque(cluster.url(), namespace="app:{jobs}")
    app.enqueue(QUEUE, "Job", 1)
    assert app.backend.keys.namespace == "app:{jobs}"
    assert cluster.owner_of("{jobs}").client().llen(f"app:{{jobs}}:queue:{QUEUE}") == 1
    app.close()


def _enqueue_mix(app: Resque, n: int, delay: float) -> dict[str, str]:
    expected = {}
    for i in range(n):
        kind = "fail" if i % 10 == 0 else "ok"
        job_id = app.enqueue(
            QUEUE, "ChaosFail" if kind == "fail" else "ChaosOk", i, delay, track_status=i % 3 == 0
        )
        expected[job_id] = kind
    return expected


def _audit(owner: redis.Redis, runs: redis.Redis, expected: dict[str, str], label: str) -> Any:
    members = runs.smembers(RUNS_KEY)
    pipe = owner.pipeline(transaction=False)
    # the audit reads its runs from the node it audits; "{resque}" keeps them in the slot
    key = f"{NS}:{RUNS_KEY}"
    pipe.delete(key)
    if members:
        pipe.sadd(key, *members)
    pipe.execute()
    import tests.chaos.audit as audit_module

    saved = audit_module.RUNS_KEY
    audit_module.RUNS_KEY = key
    try:
        return audit(owner, expected, label=label, queues=[QUEUE], namespace=NS)
    finally:
        audit_module.RUNS_KEY = saved
        owner.delete(key)


def _drain(cluster: Cluster, truth: RedisServer, fault: str | None) -> None:
    app = Resque(cluster.url())
    expected = _enqueue_mix(app, 300, 0.01 if fault else 0.0)
    env = {URL_ENV: truth.url}
    workers = [
        start_worker(cluster.url(), QUEUE, "--app-include", "tests.chaos.chaos_jobs", *FLAGS, env=env)
        for _ in range(2)
    ]
    runs = truth.client()
    try:
        if fault is not None:
            wait_for(lambda: runs.scard(RUNS_KEY) >= 80, 60, "a quarter of the drain")
            old = cluster.owner_of(NS)
            if fault == "failover":
                replica = next(n for n in cluster.nodes if _replica_of(n, old))
                replica.client().execute_command("CLUSTER", "FAILOVER")
            else:
                old.kill()
            wait_for(lambda: _moved_from(cluster, old), 60, "the slot to move to a replica")

        def drained() -> bool:
            try:
                master = _owner(cluster).client()
                return master.llen(f"{NS}:queue:{QUEUE}") == 0 and not held_jobs(master, NS)
            except redis.RedisError:  # the nodes' views of the slot are still settling
                return False

        wait_for(drained, 90, "the drain")
        assert all(w.poll() is None for w in workers), "a worker stopped"
        for w in workers:
            w.send_signal(signal.SIGQUIT)
        for w in workers:
            assert stop(w) == 0
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    master = _owner(cluster).client()
    report = _audit(master, runs, expected, f"cluster drain, fault={fault}")
    print(report.summary())
    assert not report.problems(), report.summary()
    app.close()


def _owner(cluster: Cluster) -> Node:
    """The slot's master as a live node sees it."""
    alive = next(n for n in cluster.nodes if n.proc is not None)
    slot = int(alive.client().cluster("keyslot", NS))
    for low, high, *nodes in alive.client().execute_command("CLUSTER", "SLOTS"):
        if low <= slot <= high:
            return next(n for n in cluster.nodes if n.port == int(nodes[0][1]))
    raise RuntimeError(f"no node serves slot {slot}")


def _replica_of(node: Node, master: Node) -> bool:
    if node is master or node.proc is None:
        return False
    info = node.client().info("replication")
    return info["role"] == "slave" and int(info["master_port"]) == master.port


def _moved_from(cluster: Cluster, old: Node) -> bool:
    try:
        owner = _owner(cluster)
        return owner is not old and owner.client().info("replication")["role"] == "master"
    except redis.RedisError:
        return False


def test_a_drain_on_a_cluster(cluster: Cluster, truth: RedisServer) -> None:
    _drain(cluster, truth, None)


@pytest.mark.parametrize("fault", ["failover", "kill -9"])
def test_workers_follow_the_slot_when_its_master_fails_over(fault: str, truth: RedisServer) -> None:
    cluster = _cluster(replicas_each=1)
    try:
        _drain(cluster, truth, fault)
    finally:
        cluster.close()


def test_cli_info_on_a_cluster(cluster: Cluster) -> None:
    app = Resque(cluster.url())
    app.enqueue(QUEUE, "Job", 1)
    out = subprocess.run(
        [sys.executable, "-m", "pyresque", "info", "--redis", cluster.url()],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert QUEUE in out.stdout
    app.close()


def test_side_connections_go_to_the_slot_owner(cluster: Cluster) -> None:
    """The worker's idle waits open their connections by a first send (never through
    ``connect()``): they must reach the slot's owner, not the default localhost:6379."""
    app = Resque(cluster.url())
    backend: Any = app.backend
    backend.workers.wait_for_jobs([QUEUE], 0.05)
    assert backend.workers._waiter._blocker.port == cluster.owner_of(NS).port
    backend.workers.wait_for_jobs([QUEUE, "other"], 0.05)
    assert backend.workers._waiter._tracker.port == cluster.owner_of(NS).port
    app.close()


def test_scripts_see_only_their_own_keys(cluster: Cluster) -> None:
    """The client adds two guard keys to every script it sends (see cluster.py); the
    script still sees the keys it was given, and a script it only knows by SHA1 goes
    inside the guard transaction with the same reply."""
    app = Resque(cluster.url())
    client: Any = app.backend.client  # type: ignore[attr-defined]
    assert client.eval("return {#KEYS, KEYS[1], KEYS[2], ARGV[1]}", 2, f"{NS}:a", f"{NS}:b", "x") == [
        2,
        f"{NS}:a".encode(),
        f"{NS}:b".encode(),
        b"x",
    ]
    assert client.eval("return #KEYS", 0) == 0
    pipe = client.pipeline(transaction=True)  # a script queued in the caller's MULTI
    pipe.eval("return #KEYS + 0", 1, f"{NS}:a")
    pipe.get(f"{NS}:a")
    assert pipe.execute() == [1, None]
    variant = GUARDED.of_source("return #KEYS + 0")[0]  # what ran: the guarded variant
    assert cluster.owner_of(NS).client().script_exists(variant) == [True]
    sha = cluster.owner_of(NS).client().script_load("return {#KEYS, ARGV[1]}")
    assert client.evalsha(sha, 1, f"{NS}:a", "y") == [1, b"y"]
    with pytest.raises(redis.exceptions.NoScriptError):
        client.evalsha("0" * 40, 1, f"{NS}:a")
    with pytest.raises(redis.ResponseError, match="boom"):
        client.eval("return redis.error_reply('boom')", 1, f"{NS}:a")
    app.close()
