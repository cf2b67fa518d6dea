"""Redis Sentinel: a real master, two replicas and three ``redis-sentinel`` processes
(tests/sentinel_cluster.py), an app and real workers on ``redis+sentinel://``.

Fail-overs: ``SENTINEL FAILOVER`` (the old master stays up and is demoted a few seconds
later) and ``kill -9`` of the master, during a drain and during enqueueing. Workers
carry on without a restart; the audit (tests/chaos/audit.py) counts every job on the
new master. The runs of jobs are written down on a separate redis-server (the truth),
never on the servers that fail over. What an asynchronous replica loses is printed
(``-s``) and bounded, not hidden: plain enqueues acknowledged by the old master in the
window before it was demoted are lost; durable ones are not.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pyresque import Resque
from pyresque.core.errors import BackendConnectionError
from tests.chaos.audit import audit, held_jobs
from tests.chaos.chaos_jobs import RUNS_KEY, URL_ENV
from tests.redis_server import RedisServer, in_ci
from tests.sentinel_cluster import SentinelGroup
from tests.worker_proc import start_worker, stop, wait_for

FLAGS = ("--heartbeat-interval", "1", "--prune-interval", "10", "--interval", "0.2")
QUEUE = "sentinel"


def _group(**kwargs: Any) -> SentinelGroup:
    group = SentinelGroup(**kwargs)
    try:
        group.start()
    except (FileNotFoundError, RuntimeError) as exc:
        group.close()
        if in_ci():
            raise
        pytest.skip(f"no redis-sentinel: {exc}")
    return group


@pytest.fixture
def group() -> Iterator[SentinelGroup]:
    g = _group()
    yield g
    g.close()


@pytest.fixture
def truth() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


def _master(group: SentinelGroup) -> redis.Redis:
    return group.node_on(group.master_port()).client()


def test_client_finds_the_new_master_after_sentinel_failover(group: SentinelGroup) -> None:
    app = Resque(group.url())
    app.enqueue(QUEUE, "Job", 1)
    assert _master(group).llen(f"resque:queue:{QUEUE}") == 1
    new = group.failover()
    # the old master is still up: the app's next connections ask the sentinels
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            app.enqueue(QUEUE, "Job", 2)
        except BackendConnectionError:  # cut by Sentinel while demoting the old master
            continue
        if app.backend.client.connection_pool.get_master_address()[1] == new:  # type: ignore[attr-defined]
            break
        time.sleep(0.05)
    app.enqueue(QUEUE, "Job", 3, idempotency_key="after-failover", retries=10)
    assert group.node_on(new).client().info("replication")["role"] == "master"
    # the last push went to the new master
    assert b'"args":[3]' in group.node_on(new).client().lrange(f"resque:queue:{QUEUE}", -1, -1)[0]
    app.close()


def test_demoted_master_refusal_is_a_connection_error_and_the_retry_goes_to_the_new_master(
    group: SentinelGroup,
) -> None:
    """A connection still on a master that was turned into a replica gets READONLY: the
    hot path sees a connection error (not a job failure), drops that connection, and the
    next attempt reconnects through the sentinels."""
    app = Resque(group.url())
    app.enqueue(QUEUE, "Job", 0)
    old = group.master_port()
    backend: Any = app.backend
    backend.workers.warm_up()  # the kept hot-path connection, on the old master
    conn = backend.workers._hot_conn
    assert conn.port == old
    new = group.failover()
    # demote the old master by hand now (Sentinel would in a few seconds) without cutting clients
    group.node_on(old).client().execute_command("REPLICAOF", "127.0.0.1", str(new))
    wait_for(lambda: group.node_on(old).client().info("replication")["role"] == "slave", 10, "demotion")
    with pytest.raises(redis.ConnectionError):
        backend.workers.reserve("w:1:q", [QUEUE], "2026-01-01T00:00:00Z", token="t1")
    assert backend.workers._hot_conn is None  # given up
    step = backend.workers.reserve("w:1:q", [QUEUE], "2026-01-01T00:00:00Z", token="t2")
    assert step.taken is not None
    assert backend.workers._hot_conn.port == new
    app.close()


def _enqueue_jobs(app: Resque, n: int, delay: float) -> dict[str, str]:
    return {app.enqueue(QUEUE, "ChaosOk", i, delay): "ok" for i in range(n)}


def _drain_with_failover(group: SentinelGroup, truth: RedisServer, fault: str) -> None:
    app = Resque(group.url(), durable=True)
    expected = _enqueue_jobs(app, 400, 0.01)
    env = {URL_ENV: truth.url}
    workers = [
        start_worker(group.url(), QUEUE, "--app-include", "tests.chaos.chaos_jobs", *FLAGS, env=env)
        for _ in range(2)
    ]
    try:
        runs = truth.client()
        wait_for(lambda: runs.scard(RUNS_KEY) >= 100, 60, "a quarter of the drain")
        new = group.failover() if fault == "failover" else group.kill_master()
        master = group.node_on(new).client()

        def drained() -> bool:
            return master.llen(f"resque:queue:{QUEUE}") == 0 and not held_jobs(master)

        wait_for(drained, 90, "the drain to finish on the new master")
        assert all(w.poll() is None for w in workers), "a worker stopped"
        for w in workers:
            w.send_signal(signal.SIGQUIT)
        for w in workers:
            assert stop(w) == 0
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    # runs were written on the truth server: copied where audit() reads them
    report = _audit_with_truth(master, truth.client(), expected, fault)
    print(report.summary())
    assert not report.lost, report.summary()
    assert not report.held and not report.duplicate_failures, report.summary()
    app.close()


def _audit_with_truth(master: redis.Redis, runs: redis.Redis, expected: dict[str, str], label: str) -> Any:
    members = runs.smembers(RUNS_KEY)
    if members:
        master.delete(RUNS_KEY)
        master.sadd(RUNS_KEY, *members)
    try:
        return audit(master, expected, label=f"sentinel {label}", queues=[QUEUE])
    finally:
        master.delete(RUNS_KEY)


def test_workers_carry_on_through_sentinel_failover_mid_drain(
    group: SentinelGroup, truth: RedisServer
) -> None:
    _drain_with_failover(group, truth, "failover")


def test_workers_carry_on_through_kill_9_of_the_master_mid_drain(
    group: SentinelGroup, truth: RedisServer
) -> None:
    _drain_with_failover(group, truth, "kill -9")


def _enqueue_during(group: SentinelGroup, fault: str, *, durable: int) -> tuple[int, int, int]:
    """Enqueue from a thread while the master fails; returns (acknowledged, lost, refused)."""
    app = Resque(group.url(), durable=durable)
    acked: list[str] = []
    refused = 0
    done = threading.Event()

    def produce() -> None:
        nonlocal refused
        i = 0
        while not done.is_set():
            try:
                acked.append(app.enqueue(QUEUE, "Job", i))
            except BackendConnectionError:
                refused += 1
                time.sleep(0.01)
            i += 1

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        wait_for(lambda: len(acked) >= 200, 30, "enqueues before the fault")
        new = group.failover() if fault == "failover" else group.kill_master()
        # until every old master is a replica of the new one (Sentinel demotes a live one)
        wait_for(
            lambda: all(
                n.proc is None or n.port == new or n.client().info("replication")["role"] == "slave"
                for n in group.servers
            ),
            40,
            "the old master demoted",
        )
        count = len(acked)
        wait_for(lambda: len(acked) >= count + 200, 30, "enqueues after the fault")
    finally:
        done.set()
        thread.join(30)
    master = group.node_on(group.master_port()).client()
    present = {raw.split(b'"id":"')[1][:32].decode() for raw in master.lrange(f"resque:queue:{QUEUE}", 0, -1)}
    lost = sum(1 for job_id in acked if job_id not in present)
    app.close()
    return len(acked), lost, refused


@pytest.mark.parametrize(
    ("fault", "durable", "must_keep"),
    [
        ("failover", 0, False),
        ("failover", 1, False),
        ("failover", 2, True),
        ("kill -9", 0, False),
        ("kill -9", 1, True),
    ],
)
def test_enqueues_during_a_failover(fault: str, durable: int, must_keep: bool) -> None:
    """Plain enqueues the old master acknowledged may be lost (printed). Durable ones
    are kept when the wait covers what a fail-over can lose: after ``kill -9`` Sentinel
    promotes the most up-to-date replica, so one confirming replica is enough; after
    ``SENTINEL FAILOVER`` the old master goes on taking writes (and the other replica
    confirming them) until it is demoted, so only ``durable=<every replica>`` keeps them."""
    group = _group()
    try:
        acked, lost, refused = _enqueue_during(group, fault, durable=durable)
    finally:
        group.close()
    print(f"[sentinel {fault} enqueue durable={durable}] acknowledged={acked} lost={lost} refused={refused}")
    if must_keep:
        assert lost == 0, f"{lost} durable enqueues acknowledged by the old master were lost"


def test_durable_enqueue_without_a_replica_says_so(truth: RedisServer) -> None:
    app = Resque(truth.url, durable=True, durable_timeout=0.05)
    with pytest.raises(BackendConnectionError, match="0 of the 1 replica"):
        app.enqueue(QUEUE, "Job", 1)
    assert app.size(QUEUE) == 1  # written on the master all the same
    app.close()


def test_durable_enqueue_waits_for_a_replica(group: SentinelGroup) -> None:
    app = Resque(group.url(), durable=2)
    job_id = app.enqueue(QUEUE, "Job", 1)
    guarded = app.enqueue(QUEUE, "Job", 2, idempotency_key="k", retries=2)
    assert app.enqueue(QUEUE, "Job", 2, idempotency_key="k", retries=2) == guarded
    ids = app.enqueue_many([(QUEUE, "Job", (i,)) for i in range(10)])
    # no wait needed: each replica already has every job (WAIT 2 returned 2)
    for replica in group.replicas:
        raws = replica.client().lrange(f"resque:queue:{QUEUE}", 0, -1)
        assert len(raws) == 12 and job_id.encode() in raws[0] and ids[-1].encode() in raws[-1]
    app.close()


def test_worker_cli_and_scheduler_accept_a_sentinel_url(group: SentinelGroup) -> None:
    app = Resque(group.url())
    app.enqueue(QUEUE, "Job", 1)
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-m", "pyresque", "info", "--redis", group.url()],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert QUEUE in out.stdout
    app.close()


def test_async_client_on_a_sentinel_url_follows_a_failover(group: SentinelGroup) -> None:
    from pyresque.aio import AsyncResque

    async def run() -> int:
        app = AsyncResque(group.url())
        await app.enqueue(QUEUE, "Job", 1)
        new = group.failover()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                await app.enqueue(QUEUE, "Job", 2)
            except BackendConnectionError:
                continue
            if group.node_on(new).client().llen(f"resque:queue:{QUEUE}") >= 2:
                break
        size = await app.size(QUEUE)
        await app.aclose()
        return size

    assert asyncio.run(run()) >= 2


def test_a_master_refusing_writes_for_want_of_replicas_is_a_connection_error(group: SentinelGroup) -> None:
    """``NOREPLICAS`` (``min-replicas-to-write`` not met: a master cut off from its
    replicas, as in a fail-over) did not run the write: a connection error, retried
    with backoff by the worker, not a job failure; once replicas are back, the retry works."""
    app = Resque(group.url())
    app.enqueue(QUEUE, "Job", 0)
    master = _master(group)
    master.config_set("min-replicas-to-write", 3)  # it has 2
    try:
        with pytest.raises(redis.ConnectionError, match="NOREPLICAS"):
            app.backend.workers.reserve("w:1:q", [QUEUE], "2026-01-01T00:00:00Z", token="t1")  # type: ignore[attr-defined]
        with pytest.raises(BackendConnectionError):
            app.enqueue(QUEUE, "Job", 1)
    finally:
        master.config_set("min-replicas-to-write", 0)
    step = app.backend.workers.reserve("w:1:q", [QUEUE], "2026-01-01T00:00:00Z", token="t2")  # type: ignore[attr-defined]
    assert step.taken is not None
    app.close()


def test_side_connections_go_to_the_master_never_to_the_default_address(group: SentinelGroup) -> None:
    """The worker's idle waits run on connections made from the pool's class and opened
    by their first send (redis-py then connects to the class's default address,
    localhost:6379, not through the sentinels): they must reach the master too."""
    app = Resque(group.url())
    backend: Any = app.backend
    backend.workers.wait_for_jobs([QUEUE], 0.05)  # one queue: a BLMOVE on a side connection
    assert backend.workers._waiter._blocker.port == group.master_port()
    backend.workers.wait_for_jobs([QUEUE, "other"], 0.05)  # several: CLIENT TRACKING side connections
    waiter = backend.workers._waiter
    assert {waiter._tracker.port, waiter._listener.port} == {group.master_port()}
    app.close()
