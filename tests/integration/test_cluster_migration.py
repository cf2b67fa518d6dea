"""Redis Cluster: the namespace's slot migrated to another master while the client works
(``CLUSTER SETSLOT IMPORTING/MIGRATING``, ``MIGRATE`` in batches, ``SETSLOT NODE`` on
every master: what ``redis-cli --cluster reshard`` does, done by hand here so the test
decides when each step happens).

During a migration Redis answers ``ASK`` (a key already moved) and ``TRYAGAIN`` (a
multi-key command whose keys are split) and, worse, stops a script half-way when one of
its ``redis.call`` touches a key the node does not have: the client must wait the
migration out for scripts (nothing half-run), follow ``ASK`` for plain commands, and a
drain with a producer enqueueing must come out with every job accounted for, the
workers never restarted.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pyresque import Resque
from tests.chaos.audit import held_jobs
from tests.chaos.chaos_jobs import RUNS_KEY, URL_ENV
from tests.integration.test_cluster import FLAGS, NS, _audit, _cluster, _owner
from tests.redis_server import RedisServer
from tests.sentinel_cluster import Cluster, Node
from tests.worker_proc import start_worker, stop, wait_for

QUEUE = "migrating"
RUN_AT = "2026-12-02T04:00:00Z"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = _cluster()
    yield c
    c.close()


@pytest.fixture(scope="module")
def truth() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


def _slot(cluster: Cluster) -> int:
    return int(cluster.nodes[0].client().cluster("keyslot", NS))


def _target(cluster: Cluster, source: Node) -> Node:
    return next(n for n in cluster.nodes if n is not source)


def test_tryagain_means_the_script_did_not_run(cluster: Cluster) -> None:
    """The server side of the rule the client relies on: with the slot's keys split
    between two nodes, a script over both gets ``TRYAGAIN`` and writes nothing; a script
    whose declared keys are all here but which touches another one mid-way stops
    half-way (which is why the client guards every script)."""
    source = cluster.owner_of(NS)
    target = _target(cluster, source)
    slot = _slot(cluster)
    here, moved = f"{NS}:probe:here", f"{NS}:probe:moved"
    src = source.client()
    src.set(here, 1)
    src.set(moved, 1)
    cluster.begin_migration(slot, source, target)
    try:
        src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", moved)
        bump = "redis.call('INCR', KEYS[1]); redis.call('INCR', KEYS[2]); return 1"
        with pytest.raises(redis.exceptions.TryAgainError):
            src.eval(bump, 2, here, moved)
        assert src.get(here) == b"1"  # refused whole
        half = "redis.call('INCR', KEYS[1]); redis.call('GET', KEYS[1] .. ':other'); return 1"
        with pytest.raises(redis.ResponseError, match="non local key"):
            src.eval(half, 1, here)
        assert src.get(here) == b"2"  # the first INCR stayed: half a script ran
    finally:
        cluster.migrate_keys(slot, source, target)
        cluster.end_migration(slot, source, target)
        target.client().delete(here, moved)


def test_a_reserve_waits_out_the_migration_and_plain_commands_follow_ask(cluster: Cluster) -> None:
    """A worker step (finish job A, take job B: RESERVE) sent while the slot migrates
    would, unguarded, pop B and stop before recording it (B lost). The client holds it
    back (``TRYAGAIN``, back-off) until the slot has moved, then it runs whole on the new
    owner; meanwhile a plain command on a moved key is answered by the importing node
    (``ASK`` -> ``ASKING``)."""
    app = Resque(cluster.url())
    registry: Any = app.backend.workers
    first = app.enqueue(QUEUE, "Job", 1)
    second = app.enqueue(QUEUE, "Job", 2)
    worker = "host:1:migrating"
    step = registry.reserve(worker, [QUEUE], RUN_AT, token="t1")
    assert json.loads(step.taken.payload)["id"] == first
    source = cluster.owner_of(NS)
    target = _target(cluster, source)
    slot = _slot(cluster)
    out: dict[str, Any] = {}

    def finish_and_take() -> None:
        try:
            out["step"] = registry.reserve(
                worker, [QUEUE], RUN_AT, token="t2", done_job_id=first, done_token="t1", finish_previous=True
            )
        except BaseException as exc:  # reported below
            out["error"] = exc

    cluster.begin_migration(slot, source, target)
    thread = threading.Thread(target=finish_and_take)
    try:
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), out  # still waiting: the slot is migrating
        assert cluster.migrate_keys(slot, source, target, batch=3) > 0
        assert source.client().dbsize() == 0
        # the queue key lives on the target now, the slot still on the source: ASK
        assert app.size(QUEUE) == 1
        assert thread.is_alive(), out
    finally:
        cluster.end_migration(slot, source, target)
        thread.join(30)
    assert "error" not in out, out.get("error")
    step = out["step"]
    assert step.finished == 1
    assert json.loads(step.taken.payload)["id"] == second
    owner = cluster.owner_of(NS)
    assert owner is target
    client = owner.client()
    assert client.llen(f"{NS}:queue:{QUEUE}") == 0
    assert client.get(f"{NS}:stat:processed") == b"1"
    assert json.loads(client.get(f"{NS}:worker:{worker}"))["payload"]["id"] == second
    registry.done(worker, second, token="t2")
    app.close()


def test_a_script_of_unknown_source_waits_out_the_migration_too(cluster: Cluster) -> None:
    """A script the client only knows by SHA1 (loaded by someone else) cannot be given
    guard keys: it goes inside the guard transaction, and is held back the same way."""
    app = Resque(cluster.url())
    client = app.backend.client  # type: ignore[attr-defined]
    counter, other = f"{NS}:probe:counter", f"{NS}:probe:other"
    bump = "redis.call('INCR', KEYS[1]); redis.call('GET', KEYS[1] .. ':undeclared'); return #KEYS"
    masters = [n for n in cluster.nodes if n.client().info("replication")["role"] == "master"]
    (sha,) = {n.client().script_load(bump) for n in masters}  # loaded on every master
    client.set(counter, 0)
    client.set(other, 0)
    source = cluster.owner_of(NS)
    target = next(n for n in masters if n is not source)
    slot = _slot(cluster)
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["reply"] = client.evalsha(sha, 2, counter, other)
        except BaseException as exc:  # reported below
            out["error"] = exc

    cluster.begin_migration(slot, source, target)
    thread = threading.Thread(target=run)
    try:
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), out
        assert source.client().get(counter) == b"0"  # not run, not half-run
        cluster.migrate_keys(slot, source, target)
    finally:
        cluster.end_migration(slot, source, target)
        thread.join(30)
    assert out == {"reply": 2}
    assert target.client().get(counter) == b"1"
    target.client().delete(counter, other)
    app.close()


def _enqueue(app: Resque, expected: dict[str, str], index: int, delay: float) -> None:
    kind = "fail" if index % 10 == 0 else "ok"
    job_id = app.enqueue(
        QUEUE, "ChaosFail" if kind == "fail" else "ChaosOk", index, delay, track_status=index % 3 == 0
    )
    expected[job_id] = kind


def test_a_drain_with_a_producer_survives_a_slot_migration(cluster: Cluster, truth: RedisServer) -> None:
    for node in cluster.nodes:
        node.client().flushall()  # the earlier tests' records and counters
    app = Resque(cluster.url())
    expected: dict[str, str] = {}
    for i in range(150):
        _enqueue(app, expected, i, 0.01)
    env = {URL_ENV: truth.url}
    workers = [
        start_worker(cluster.url(), QUEUE, "--app-include", "tests.chaos.chaos_jobs", *FLAGS, env=env)
        for _ in range(2)
    ]
    runs = truth.client()
    produced: dict[str, str] = {}
    errors: list[BaseException] = []
    during: list[int] = []

    def produce() -> None:
        producer = Resque(cluster.url())
        try:
            for i in range(150, 300):
                _enqueue(producer, produced, i, 0.01)
                time.sleep(0.005)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            producer.close()

    thread = threading.Thread(target=produce)
    try:
        wait_for(lambda: runs.scard(RUNS_KEY) >= 40, 60, "a part of the drain")
        thread.start()
        source = cluster.owner_of(NS)
        target = _target(cluster, source)
        slot = _slot(cluster)
        during.append(source.client().llen(f"{NS}:queue:{QUEUE}"))
        cluster.begin_migration(slot, source, target)
        time.sleep(0.3)  # slot open, no key moved yet: where an unguarded script half-runs
        moved = cluster.migrate_keys(slot, source, target, batch=5, pause=0.03)
        cluster.end_migration(slot, source, target)
        thread.join(60)
        assert not thread.is_alive(), "the producer hung"
        assert not errors, errors
        assert moved > 0 and during[0] > 0  # a real migration, jobs still queued

        def drained() -> bool:
            try:
                master = _owner(cluster).client()
                return master.llen(f"{NS}:queue:{QUEUE}") == 0 and not held_jobs(master, NS)
            except redis.RedisError:
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
        if thread.is_alive():
            thread.join(30)
    expected.update(produced)
    assert len(expected) == 300
    owner = _owner(cluster)
    assert owner is target
    assert source.client().dbsize() == 0
    report = _audit(owner.client(), runs, expected, "cluster drain during a slot migration")
    print(report.summary())
    assert not report.problems(), report.summary()
    app.close()
