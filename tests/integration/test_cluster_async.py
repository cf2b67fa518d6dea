"""The asyncio client (``AsyncResque``), the async worker (``--mode async``) and the
dashboard on ``redis+cluster://``: a real cluster (tests/sentinel_cluster.py), the
namespace in its hash tag on the slot's master, a manual fail-over and a slot migration
while the async client enqueues, a manual fail-over while the async worker drains
(audited)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Iterator

import pytest
import redis

from pyresque import Resque
from pyresque.aio import AsyncResque
from tests.chaos.audit import held_jobs
from tests.chaos.chaos_jobs import RUNS_KEY, URL_ENV
from tests.integration.test_cluster import (
    FLAGS,
    NS,
    _audit,
    _cluster,
    _enqueue_mix,
    _moved_from,
    _owner,
    _replica_of,
)
from tests.integration.test_cluster import QUEUE as MIX_QUEUE
from tests.redis_server import RedisServer
from tests.sentinel_cluster import Cluster
from tests.worker_proc import start_worker, stop, wait_for

QUEUE = "async-clustered"
J = "tests.worker_jobs."


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = _cluster(replicas_each=1)
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _empty(cluster: Cluster) -> None:
    for node in cluster.nodes:
        if node.client().info("replication")["role"] == "master":
            node.client().flushall()


def _others_empty(cluster: Cluster) -> bool:
    owner = _owner(cluster)
    masters = [n for n in cluster.nodes if n.client().info("replication")["role"] == "master"]
    return all(n.client().dbsize() == 0 for n in masters if n is not owner)


def test_enqueue_size_dequeue_and_failures_on_a_cluster(cluster: Cluster) -> None:
    async def main() -> None:
        async with AsyncResque(cluster.url()) as app:
            assert app.backend.keys.namespace == NS
            for i in range(4):
                await app.enqueue(QUEUE, J + "noop", i)
            tracked = await app.enqueue(QUEUE, J + "boom", 9, track_status=True)
            await app.enqueue_many([(QUEUE, J + "noop", (i,)) for i in range(10, 13)])
            assert await app.size(QUEUE) == 8
            assert await app.dequeue(QUEUE, J + "noop", 0) == 1
            assert await app.size(QUEUE) == 7
            assert QUEUE in await app.queues()
            info = await app.tracked(tracked).status()
            assert info is not None

    asyncio.run(main())
    owner = _owner(cluster).client()
    assert owner.llen(f"{NS}:queue:{QUEUE}") == 7
    assert _others_empty(cluster)
    # the async worker drains it on the cluster; the failure is read back by the async client
    proc = start_worker(cluster.url(), QUEUE, "--mode", "async", "--concurrency", "3", "--burst")
    assert stop(proc, 60) == 0

    async def check() -> None:
        async with AsyncResque(cluster.url()) as app:
            assert await app.size(QUEUE) == 0
            assert await app.failures.count() == 1
            [record] = await app.failures.all(0, 1)
            assert record.payload["class"] == J + "boom"

    asyncio.run(check())
    assert owner.get(f"{NS}:stat:processed") == b"7"
    assert _others_empty(cluster)


def test_the_twin_of_a_sync_cluster_app(cluster: Cluster) -> None:
    sync = Resque(cluster.url(), namespace="app:{jobs}")

    async def main() -> None:
        twin = AsyncResque.from_app(sync)
        try:
            assert twin.backend.keys.namespace == "app:{jobs}"
            await twin.enqueue(QUEUE, J + "noop", 1)
            assert await twin.size(QUEUE) == 1
        finally:
            await twin.aclose()

    asyncio.run(main())
    assert sync.size(QUEUE) == 1
    assert cluster.owner_of("{jobs}").client().llen(f"app:{{jobs}}:queue:{QUEUE}") == 1
    sync.close()


def test_async_enqueues_go_on_through_a_manual_failover(cluster: Cluster) -> None:
    """``CLUSTER FAILOVER`` on the slot's replica while the async client enqueues: every
    enqueue succeeds (the ``MOVED`` the demoted master answers is followed in place),
    each job is in the queue once."""

    async def main() -> list[str]:
        async with AsyncResque(cluster.url()) as app:
            ids: list[str] = []
            old = _owner(cluster)
            for i in range(300):
                ids.append(await app.enqueue(QUEUE, J + "noop", i))
                if i == 50:
                    replica = next(n for n in cluster.nodes if _replica_of(n, old))
                    replica.client().execute_command("CLUSTER", "FAILOVER")
                await asyncio.sleep(0.005)
            wait_for(lambda: _owner(cluster) is not old, 30, "the fail-over")
            assert await app.size(QUEUE) == 300
            return ids

    ids = asyncio.run(main())
    stored = _owner(cluster).client().lrange(f"{NS}:queue:{QUEUE}", 0, -1)
    assert sorted(json.loads(p)["id"] for p in stored) == sorted(ids)


def test_an_async_enqueue_waits_out_a_slot_migration(cluster: Cluster) -> None:
    """An enqueue (a script) sent while the slot migrates runs once, whole, on the new
    owner after the move; a plain command meanwhile follows ``ASK``."""
    source = _owner(cluster)
    masters = [n for n in cluster.nodes if n.client().info("replication")["role"] == "master"]
    target = next(n for n in masters if n is not source)
    slot = int(source.client().cluster("keyslot", NS))

    async def main() -> None:
        async with AsyncResque(cluster.url()) as app:
            first = await app.enqueue(QUEUE, J + "noop", 1)
            cluster.begin_migration(slot, source, target)
            try:
                late = asyncio.ensure_future(app.enqueue(QUEUE, J + "noop", 2))
                await asyncio.sleep(0.5)
                assert not late.done()
                await asyncio.to_thread(cluster.migrate_keys, slot, source, target, batch=2)
                assert await app.size(QUEUE) == 1  # ASK: the queue is on the target already
                assert not late.done()
            finally:
                await asyncio.to_thread(cluster.end_migration, slot, source, target)
            second = await asyncio.wait_for(late, 30)
            assert await app.size(QUEUE) == 2
            stored = target.client().lrange(f"{NS}:queue:{QUEUE}", 0, -1)
            assert [json.loads(p)["id"] for p in stored] == [first, second]

    try:
        asyncio.run(main())
    except subprocess.SubprocessError:  # pragma: no cover - a failed topology step
        raise
    assert source.client().dbsize() == 0


def test_the_dashboard_on_a_cluster(cluster: Cluster) -> None:
    """pyresque web on ``redis+cluster://``: its async client reads the hash-tagged
    namespace on the slot's master (every page renders, the queue shows)."""
    from tests.e2e.seed import web_client

    sync = Resque(cluster.url())
    sync.enqueue(QUEUE, J + "noop", 1)
    sync.enqueue(QUEUE, J + "boom", 2)

    async def main() -> None:
        async with web_client(cluster.url()) as http:
            pages = ("/", "/queues", f"/queue?name={QUEUE}", "/workers", "/failed", "/stats", "/stats/keys")
            for page in pages:
                reply = await http.get(page)
                assert reply.status_code == 200, (page, reply.text[:300])
            assert QUEUE in (await http.get("/queues")).text
            assert f"{NS}:queue:{QUEUE}" in (await http.get("/stats/keys")).text

    asyncio.run(main())
    sync.close()


@pytest.fixture(scope="module")
def truth() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


def test_the_async_worker_drains_through_a_manual_failover(cluster: Cluster, truth: RedisServer) -> None:
    """``--mode async`` on ``redis+cluster://``: ``CLUSTER FAILOVER`` of the slot's
    master mid-drain; the worker follows without a restart and the audit counts every job."""
    app = Resque(cluster.url())
    expected = _enqueue_mix(app, 300, 0.03)  # some 2 s of work on 4 slots
    worker = start_worker(
        cluster.url(), MIX_QUEUE, "--mode", "async", "--concurrency", "4",
        "--app-include", "tests.chaos.chaos_jobs", *FLAGS, env={URL_ENV: truth.url},
    )  # fmt: skip
    runs = truth.client()
    runs.delete(RUNS_KEY)
    try:
        wait_for(lambda: runs.scard(RUNS_KEY) >= 50, 60, "a quarter of the drain")
        old = _owner(cluster)
        replica = next(n for n in cluster.nodes if _replica_of(n, old))
        replica.client().execute_command("CLUSTER", "FAILOVER")
        wait_for(lambda: _moved_from(cluster, old), 60, "the slot to move to the replica")
        print("jobs left when the slot moved:", _owner(cluster).client().llen(f"{NS}:queue:{MIX_QUEUE}"))

        def drained() -> bool:
            try:
                master = _owner(cluster).client()
                return master.llen(f"{NS}:queue:{MIX_QUEUE}") == 0 and not held_jobs(master, NS)
            except redis.RedisError:  # the nodes' views of the slot are still settling
                return False

        wait_for(drained, 90, "the drain")
        assert worker.poll() is None, "the worker stopped"
        worker.send_signal(signal.SIGQUIT)
        assert stop(worker) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    report = _audit(_owner(cluster).client(), runs, expected, "async worker, cluster fail-over")
    print(report.summary())
    assert not report.problems(), report.summary()
    app.close()
