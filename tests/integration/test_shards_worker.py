"""A worker over shards (pyresque.backends.redis.shards.worker_side): one worker
process reserving across three real redis-servers, in queue-priority order, waiting
on all of them at once, registered on each as Ruby reads it, and surviving a shard
that stops and comes back, and its own ``kill -9``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pyresque import EnqueueRequest, Resque
from pyresque.backends.redis.shards import ShardedBackend
from pyresque.core.worker import Worker
from tests.redis_server import RedisServer
from tests.worker_proc import ROOT, start_worker, stop, trace_lines, wait_for

#: queue -> shard: the priority list urgent, high, mid, low goes c, b, a, b
QUEUE_MAP = {"urgent": "c", "high": "b", "mid": "a", "low": "b", "qa": "a", "qb": "b", "qc": "c"}
JOBS = "tests.worker_jobs"


@pytest.fixture
def servers() -> Iterator[list[RedisServer]]:
    started = []
    try:
        for _ in range(3):
            server = RedisServer(appendonly=True)  # a restart keeps the shard's data
            server.start()
            started.append(server)
        for server in started:
            server.wait_ready()
        yield started
    finally:
        for server in started:
            server.close()


def spec(servers: list[RedisServer]) -> str:
    mapping = ",".join(f"{q}:{s}" for q, s in QUEUE_MAP.items())
    return f"redis+shards://a={servers[0].url},b={servers[1].url},c={servers[2].url}?map={mapping}"


@pytest.fixture
def app(servers: list[RedisServer]) -> Iterator[Resque]:
    shards = {"a": servers[0].url, "b": servers[1].url, "c": servers[2].url}
    built = Resque(ShardedBackend(shards, queue_map=QUEUE_MAP), allow_modules=[JOBS])
    yield built
    built.close()


def shard(servers: list[RedisServer], name: str) -> redis.Redis:
    return servers["abc".index(name)].client()


def worker_id(proc: subprocess.Popen[bytes], queues: str) -> str:
    return f"{socket.gethostname()}:{proc.pid}:{queues}"


def commands(client: redis.Redis) -> int:
    """Commands the server has run so far (INFO commandstats)."""
    stats = client.info("commandstats")
    return sum(int(v["calls"]) for v in stats.values())


def registered(client: redis.Redis, wid: str) -> bool:
    return bool(client.sismember("resque:workers", wid))


@pytest.mark.parametrize("mode", ["fork", "fork-every", "inprocess"])
def test_jobs_run_in_queue_priority_order_across_shards(
    app: Resque, servers: list[RedisServer], tmp_path: Path, mode: str
) -> None:
    for i in range(4):  # enqueued lowest priority first, interleaved
        for queue in ("low", "mid", "high", "urgent"):
            app.enqueue(queue, f"{JOBS}.record", f"{queue}-{i}")
    trace = tmp_path / "trace"
    proc = start_worker(spec(servers), "urgent,high,mid,low", "--burst", "--mode", mode, trace=trace)
    assert stop(proc, 60) == 0
    ran = trace_lines(trace)
    assert [line.split("-")[0] for line in ran] == ["urgent"] * 4 + ["high"] * 4 + ["mid"] * 4 + ["low"] * 4
    assert Counter(ran) == Counter(f"{q}-{i}" for q in ("low", "mid", "high", "urgent") for i in range(4))
    # each job's success counted on its own shard, nothing failed, nothing still held
    processed = {name: int(shard(servers, name).get("resque:stat:processed") or 0) for name in "abc"}
    assert processed == {"a": 4, "b": 8, "c": 4}
    for name in "abc":
        client = shard(servers, name)
        assert client.llen("resque:failed") == 0
        assert not [k for k in client.keys("resque:worker:*") if not k.endswith((b":lease", b":started"))]


def test_a_success_is_written_on_the_shard_its_job_came_from(app: Resque, servers: list[RedisServer]) -> None:
    """The job of shard b is followed by one of shard a: its success (and its status)
    must land on b, not be fused into a's reserve."""
    ids = {q: app.enqueue(q, f"{JOBS}.noop", q, track_status=True) for q in ("high", "mid", "urgent")}
    worker = Worker(app, ["urgent", "high", "mid"], mode="inprocess", burst=True)
    worker.work()
    assert (worker.processed, worker.failed, worker.unheld) == (3, 0, 0)
    for queue, job_id in ids.items():
        home = shard(servers, QUEUE_MAP[queue])
        status = json.loads(home.get(f"resque:job:{job_id}:status"))
        assert status["status"] == 4  # COMPLETED, on the job's own shard
        assert int(home.get("resque:stat:processed")) == 1
        others = [shard(servers, n) for n in "abc" if n != QUEUE_MAP[queue]]
        assert all(c.get(f"resque:job:{job_id}:status") is None for c in others)


def test_each_shard_shows_the_worker_as_resque_web_reads_it(
    servers: list[RedisServer], tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    queues = "high,mid"  # shards b and a; shard c has none of its queues
    proc = start_worker(spec(servers), queues, "--heartbeat-interval", "1", trace=trace)
    wid = worker_id(proc, queues)
    try:
        a, b, c = (shard(servers, n) for n in "abc")
        wait_for(lambda: registered(a, wid) and registered(b, wid), 30, "registration on shards a and b")
        app_b = Resque(servers[1].url)
        app_b.enqueue("high", f"{JOBS}.sleeper", 30, "long")
        app_b.close()
        wait_for(lambda: b.get(f"resque:worker:{wid}"), 30, "the job recorded as working on shard b")
        record = json.loads(b.get(f"resque:worker:{wid}"))  # Ruby's Worker#job
        assert record["queue"] == "high" and record["payload"]["class"] == f"{JOBS}.sleeper"
        assert record["payload"]["args"] == [30, "long"] and record["run_at"].endswith("Z")
        for client in (a, b):  # Ruby's Worker#started and the heartbeat hash
            assert client.get(f"resque:worker:{wid}:started")
            assert client.hget("resque:workers:heartbeat", wid)
        assert a.get(f"resque:worker:{wid}") is None  # not working on a
        assert not registered(c, wid) and c.hget("resque:workers:heartbeat", wid) is None
        os.kill(proc.pid, signal.SIGTERM)  # stop the job now: recorded failed on b
        assert stop(proc, 60) == 0
        for client in (a, b):  # unregistered on every shard
            assert not registered(client, wid) and not client.keys(f"resque:worker:{wid}*")
            assert client.hget("resque:workers:heartbeat", wid) is None
        assert b.llen("resque:failed") == 1 and a.llen("resque:failed") == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("mode", ["fork", "fork-every", "inprocess"])
def test_an_idle_worker_blocks_on_every_shard_and_wakes_on_any(
    servers: list[RedisServer], tmp_path: Path, mode: str
) -> None:
    trace = tmp_path / "trace"
    queues = "urgent,high,mid,low"
    proc = start_worker(spec(servers), queues, "--mode", mode, trace=trace)
    wid = worker_id(proc, queues)
    clients = [shard(servers, n) for n in "abc"]
    try:
        wait_for(lambda: all(registered(c, wid) for c in clients), 30, "registration on every shard")
        time.sleep(1.5)  # settled: start-up pruning done, idle
        before = [commands(c) for c in clients]
        t0 = time.monotonic()
        time.sleep(4.0)
        rates = [
            (commands(c) - n - 1) / (time.monotonic() - t0) for c, n in zip(clients, before, strict=True)
        ]
        # a poll of every shard would run hundreds of commands a second on each; a
        # blocking wait runs a handful: the reserve and the wait's own (once a second),
        # the lease and control reads of the heartbeat thread
        assert all(rate < 25 for rate in rates), rates
        for queue in ("mid", "low", "urgent", "high", "mid"):  # a job on any shard wakes it
            app = Resque(servers["abc".index(QUEUE_MAP[queue])].url)
            before = trace_lines(trace).count(queue)
            app.enqueue(queue, f"{JOBS}.record", queue)
            app.close()
            wait_for(lambda q=queue, n=before: trace_lines(trace).count(q) > n, 30, f"the {queue} job")
        os.kill(proc.pid, signal.SIGQUIT)
        assert stop(proc, 60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("how", ["stopped", "stalled"])
@pytest.mark.parametrize("mode", ["fork", "inprocess"])
def test_a_shard_stopped_and_restarted_mid_drain_loses_nothing(
    app: Resque, servers: list[RedisServer], tmp_path: Path, mode: str, how: str
) -> None:
    """Shard b goes away while the worker drains it (its process stopped, or frozen
    with SIGSTOP: connections open, nothing answered): a's and c's jobs still finish;
    when b is back, its jobs finish too, each job once, nothing failed."""
    count = 25
    for i in range(count):
        for queue in ("qa", "qb", "qc"):
            app.enqueue(queue, f"{JOBS}.sleeper", 0.03, f"{queue}-{i}")
    trace = tmp_path / "trace"
    queues = "qb,qa,qc"  # b's queue first: it is being drained when it stops
    log = tmp_path / "worker.log"
    proc = start_worker(spec(servers), queues, "--mode", mode, "-v", trace=trace, log=log)
    try:
        wait_for(lambda: len(trace_lines(trace)) >= 8, 60, "the drain to start")
        if how == "stopped":  # shard b goes away mid-drain
            servers[1].stop()
        else:
            servers[1].sigstop()
        a, c = shard(servers, "a"), shard(servers, "c")
        wait_for(
            lambda: a.llen("resque:queue:qa") == 0 and c.llen("resque:queue:qc") == 0, 90, "a and c drained"
        )
        wait_for(
            lambda: (
                {f"qa-{i}" for i in range(count)} | {f"qc-{i}" for i in range(count)}
                <= set(trace_lines(trace))
            ),
            60,
            "the jobs of a and c to finish",
        )
        assert any(line.startswith("qb-") for line in trace_lines(trace))  # b was mid-drain
        assert not {f"qb-{i}" for i in range(count)} <= set(trace_lines(trace))
        if how == "stopped":
            servers[1].start()
            servers[1].wait_ready()
        else:
            servers[1].sigcont()
        b = shard(servers, "b")
        wait_for(
            lambda: {f"qb-{i}" for i in range(count)} <= set(trace_lines(trace)), 90, "b's jobs after restart"
        )
        wid = worker_id(proc, queues)
        wait_for(
            lambda: all(int(shard(servers, n).get("resque:stat:processed") or 0) == count for n in "abc"), 30
        )
        wait_for(lambda: b.get(f"resque:worker:{wid}") is None, 30, "nothing held on b")
        os.kill(proc.pid, signal.SIGQUIT)
        assert stop(proc, 60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ran = Counter(trace_lines(trace))
    assert ran == Counter(f"{q}-{i}" for q in ("qa", "qb", "qc") for i in range(count))  # each exactly once
    for name in "abc":
        client = shard(servers, name)
        assert client.llen("resque:failed") == 0 and int(client.get("resque:stat:processed")) == count
        assert not client.keys(f"resque:worker:{wid}*")


def test_a_killed_worker_s_job_is_recovered_on_its_own_shard(
    app: Resque, servers: list[RedisServer], tmp_path: Path
) -> None:
    queues = "high,mid"
    proc = start_worker(spec(servers), queues)
    wid = worker_id(proc, queues)
    a, b = shard(servers, "a"), shard(servers, "b")
    try:
        wait_for(lambda: registered(a, wid) and registered(b, wid), 30, "registration")
        job_id = app.enqueue("high", f"{JOBS}.sleeper", 60, "long")
        wait_for(lambda: b.get(f"resque:worker:{wid}"), 30, "the job held on shard b")
        os.kill(proc.pid, signal.SIGKILL)  # its child dies with it (PR_SET_PDEATHSIG)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    app.enqueue("mid", f"{JOBS}.noop", 1)
    trace = tmp_path / "trace"
    second = start_worker(spec(servers), queues, "--burst", trace=trace)
    assert stop(second, 60) == 0
    failed = [json.loads(raw) for raw in b.lrange("resque:failed", 0, -1)]
    assert len(failed) == 1 and failed[0]["payload"]["id"] == job_id  # failed on its shard, not lost
    assert failed[0]["exception"] == "pyresque.WorkerLost"
    assert a.llen("resque:failed") == 0 and a.llen("resque:queue:mid") == 0
    for client in (a, b):  # the dead worker is pruned on every shard it was on
        assert not registered(client, wid) and not client.keys(f"resque:worker:{wid}*")


def test_quiet_through_redis_on_one_shard_stops_the_worker_on_all(servers: list[RedisServer]) -> None:
    queues = "*"
    proc = start_worker(spec(servers), queues, "--heartbeat-interval", "1")
    wid = worker_id(proc, queues)
    clients = [shard(servers, n) for n in "abc"]
    try:
        wait_for(
            lambda: all(registered(c, wid) for c in clients), 30, "a '*' worker registered on every shard"
        )
        wait_for(lambda: clients[2].get(f"resque:worker:{wid}:lease"), 30, "its lease on shard c")
        plain = Resque(servers[2].url)
        plain.workers_control.quiet(wid)
        plain.close()
        assert stop(proc, 60) == 0
        for client in clients:  # (the command itself stays until its TTL: never deleted)
            assert not registered(client, wid) and client.hget("resque:workers:heartbeat", wid) is None
            keys = [f"resque:worker:{wid}", f"resque:worker:{wid}:started", f"resque:worker:{wid}:lease"]
            assert client.exists(*keys) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_star_worker_takes_every_shard_s_queues(
    app: Resque, servers: list[RedisServer], tmp_path: Path
) -> None:
    for queue in ("qa", "qb", "qc", "other1", "other2"):
        app.enqueue(queue, f"{JOBS}.record", queue)
    trace = tmp_path / "trace"
    assert stop(start_worker(spec(servers), "*", "--burst", trace=trace), 60) == 0
    assert sorted(trace_lines(trace)) == ["other1", "other2", "qa", "qb", "qc"]


def test_pyresque_worker_takes_an_included_sharded_app(servers: list[RedisServer], tmp_path: Path) -> None:
    module = tmp_path / "shardapp.py"
    shards = {"a": servers[0].url, "b": servers[1].url, "c": servers[2].url}
    module.write_text(
        "from pyresque import Resque\n"
        "from pyresque.backends.redis.shards import ShardedBackend\n"
        f"app = Resque(ShardedBackend({shards!r}, queue_map={QUEUE_MAP!r}), allow_modules=[{JOBS!r}])\n"
    )
    producer = Resque(ShardedBackend(shards, queue_map=QUEUE_MAP))
    for queue in ("urgent", "mid", "low"):
        producer.enqueue(queue, f"{JOBS}.record", queue)
    producer.close()
    trace = tmp_path / "trace"
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYRESQUE_TEST_TRACE=str(trace))
    cmd = [
        sys.executable,
        "-m",
        "pyresque",
        "worker",
        "--app-include",
        str(module),
        "--queue",
        "urgent,mid,low",
    ]
    done = subprocess.run([*cmd, "--burst"], cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert trace_lines(trace) == ["urgent", "mid", "low"]


def _lose_replies(registry: object, method: str, every: int) -> list[int]:
    """Make every ``every``-th call of ``registry.method`` run, then lose its reply."""
    real = getattr(registry, method)
    calls = [0]

    def flaky(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        result = real(*args, **kwargs)
        if calls[0] % every == 0:
            raise redis.ConnectionError("reply lost (test)")
        return result

    setattr(registry, method, flaky)
    return calls


@pytest.mark.parametrize("every", [2, 3])
def test_lost_replies_on_one_shard_run_each_job_once_and_count_it_once(
    app: Resque, servers: list[RedisServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every: int
) -> None:
    """Replies of shard b's reserve and fail scripts are lost after they ran (every
    other one, every third): the job a lost reserve took comes back
    to the worker (not failed as a dead runner's), a success fused into a lost reserve
    is counted once, a failure once."""
    trace = tmp_path / "trace"
    monkeypatch.setenv("PYRESQUE_TEST_TRACE", str(trace))
    for i in range(6):
        app.enqueue("qb", f"{JOBS}.record", f"qb-{i}")
        app.enqueue("qa", f"{JOBS}.record", f"qa-{i}")
    app.enqueue("qb", f"{JOBS}.boom", "x")
    worker = Worker(app, ["qb", "qa"], mode="inprocess", burst=True, heartbeat_interval=0)
    lane_b = next(lane for lane in worker.registry.lanes if lane.name == "b")  # type: ignore[attr-defined]
    lane_b.registry = _Shim(lane_b.registry)
    reserves = _lose_replies(lane_b.registry, "reserve", every)
    fails = _lose_replies(lane_b.registry, "fail", every)
    monkeypatch.setattr("pyresque.backends.redis.shards.lanes.FIRST_BACKOFF", 0.01)
    worker.work()
    assert reserves[0] > 7 and fails[0] >= 1  # the faults did happen
    assert Counter(trace_lines(trace)) == Counter(f"q{s}-{i}" for s in "ab" for i in range(6))
    a, b = shard(servers, "a"), shard(servers, "b")
    assert int(a.get("resque:stat:processed")) == 6 and int(b.get("resque:stat:processed")) == 7
    assert b.llen("resque:failed") == 1 and int(b.get("resque:stat:failed")) == 1
    assert a.llen("resque:failed") == 0
    assert worker.failed == 1 and worker.unheld == 0
    for client in (a, b):
        assert not client.keys(f"resque:worker:{worker.id}*")


class _Shim:
    """A registry whose methods can be replaced on the instance (the real one's are
    shared with the app)."""

    def __init__(self, real: object) -> None:
        self._real = real

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def test_pause_all_workers_on_one_shard_pauses_the_worker_there_only(
    app: Resque, servers: list[RedisServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace = tmp_path / "trace"
    monkeypatch.setenv("PYRESQUE_TEST_TRACE", str(trace))
    shard(servers, "b").set("resque:pause-all-workers", "true")  # Ruby's key, on shard b
    for queue in ("qb", "qa", "qc"):
        app.enqueue(queue, f"{JOBS}.record", queue)
    worker = Worker(app, ["qb", "qa", "qc"], mode="inprocess", burst=True, heartbeat_interval=0)
    worker.work()
    assert sorted(trace_lines(trace)) == ["qa", "qc"]
    assert shard(servers, "b").llen("resque:queue:qb") == 1  # left for when b is resumed


def test_a_higher_priority_shard_found_empty_costs_no_round_trip_per_job(
    app: Resque, servers: list[RedisServer]
) -> None:
    """qa (shard a) comes first but is empty: while the worker drains qb (shard b),
    shard a is not asked again for each job (it tracks qa for the worker instead)."""
    app.enqueue_many(EnqueueRequest("qb", f"{JOBS}.noop", (i,)) for i in range(300))
    a = shard(servers, "a")
    a.config_resetstat()
    worker = Worker(app, ["qa", "qb"], mode="inprocess", burst=True, heartbeat_interval=0)
    worker.work()
    assert worker.processed == 300
    calls = a.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    assert calls < 60, calls  # one reserve per job would be 300


def test_a_job_pushed_to_a_higher_priority_shard_found_empty_is_taken_next(
    app: Resque, servers: list[RedisServer], tmp_path: Path
) -> None:
    for i in range(200):
        app.enqueue("qb", f"{JOBS}.sleeper", 0.02, f"qb-{i}")
    trace = tmp_path / "trace"
    proc = start_worker(spec(servers), "qa,qb", "--mode", "inprocess", trace=trace)
    try:
        wait_for(lambda: len(trace_lines(trace)) >= 10, 60, "qb being drained")
        app.enqueue("qa", f"{JOBS}.record", "qa")
        ran_before = len(trace_lines(trace))
        wait_for(lambda: "qa" in trace_lines(trace), 30, "the qa job")
        # the job running when it was pushed, and perhaps one reserved at that instant
        assert trace_lines(trace).index("qa") <= ran_before + 2
        os.kill(proc.pid, signal.SIGTERM)
        stop(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_shard_that_lost_its_data_gets_the_worker_registered_again(servers: list[RedisServer]) -> None:
    queues = "high,mid"
    proc = start_worker(spec(servers), queues, "--heartbeat-interval", "1")
    wid = worker_id(proc, queues)
    a, b = shard(servers, "a"), shard(servers, "b")
    try:
        wait_for(lambda: registered(a, wid) and registered(b, wid), 30, "registration")
        a.flushall()  # shard a lost everything (a restart without persistence)
        wait_for(
            lambda: registered(a, wid) and a.hget("resque:workers:heartbeat", wid), 30, "registered again"
        )
        assert a.get(f"resque:worker:{wid}:started")
        assert registered(b, wid)
        os.kill(proc.pid, signal.SIGQUIT)
        assert stop(proc, 60) == 0
        assert not registered(a, wid) and not registered(b, wid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
