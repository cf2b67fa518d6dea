"""Workers over shards: jobs/s, worker CPU and Redis CPU per job, 1 vs 2 vs 4 shards,
one sharded worker process and N of them; and the commands an idle sharded worker
sends each shard per second.

    .venv/bin/python -m bench.bench_shards_worker [--jobs 4000] [--runs 3] [--mode inprocess]

Starts its own redis-servers (4) on free ports. Each shard holds one queue
(``q<i>`` mapped to shard ``s<i>``); the jobs (no-ops) are spread evenly over the
queues and pushed once the workers are idle; a run ends when every shard's
``stat:processed`` adds up to the jobs. Layouts:

- ``plain``: one worker on one Redis URL (the baseline, no shards);
- ``1 proc``: one ``pyresque worker`` over all the shards (``--queue q0,q1,...``);
- ``N procs``: N of them (N = shards), worker ``i``'s list starting at ``q<i>``.

Reported per layout: the median of ``--runs`` runs of jobs/s; worker CPU ms per job
(``/proc/<pid>/stat``: user + system, children included); Redis CPU ms per job per
shard (``INFO cpu`` deltas, summed over shards, divided by jobs and shards). The
host is shared and noisy: read the CPU per job more than the wall-clock rates.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import redis

from bench._server import ROOT, RedisServer
from pyresque import EnqueueRequest, Resque

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its waited-for children."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def commands(client: redis.Redis) -> int:
    return sum(int(v["calls"]) for v in client.info("commandstats").values())


def spec(servers: list[RedisServer]) -> str:
    mapping = ",".join(f"q{i}:s{i}" for i in range(len(servers)))
    shards = ",".join(f"s{i}={s.url}" for i, s in enumerate(servers))
    return f"redis+shards://{shards}?map={mapping}"


def start(url: str, queues: str, mode: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "pyresque", "worker", "--queue", queues, "--redis", url]
    cmd += ["--app-include", "bench.worker_bench_jobs", "--mode", mode]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGQUIT)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise RuntimeError(f"timed out waiting for {what}")


def run_once(servers: list[RedisServer], layout: str, jobs: int, mode: str) -> tuple[float, float, float]:
    """(jobs/s, worker CPU ms/job, Redis CPU ms/job/shard)."""
    n = len(servers)
    clients = [s.client() for s in servers]
    for c in clients:
        c.flushall()
    queues = [f"q{i}" for i in range(n)]
    if layout == "plain":
        url, lists = servers[0].url, [["q0"]]
    elif layout == "1 proc":
        url, lists = spec(servers), [queues]
    else:
        url, lists = spec(servers), [queues[i:] + queues[:i] for i in range(n)]
    procs = [start(url, ",".join(lst), mode) for lst in lists]
    try:
        wait_until(lambda: all(c.scard("resque:workers") >= len(procs) for c in clients), 60, "workers")
        time.sleep(0.5)
        app = Resque(url)
        cpu0 = [cpu_seconds(p.pid) for p in procs]
        red0 = [redis_cpu(c) for c in clients]
        t0 = time.perf_counter()
        app.enqueue_many(EnqueueRequest(queues[i % len(lists[0])], "noop", ()) for i in range(jobs))

        def done() -> bool:
            return sum(int(c.get("resque:stat:processed") or 0) for c in clients) >= jobs

        wait_until(done, 300, "the jobs")
        elapsed = time.perf_counter() - t0
        cpu = sum(cpu_seconds(p.pid) - c for p, c in zip(procs, cpu0, strict=True))
        red = sum(redis_cpu(c) - r for c, r in zip(clients, red0, strict=True))
        app.close()
    finally:
        stop_all(procs)
    used = 1 if layout == "plain" else n
    return jobs / elapsed, 1000 * cpu / jobs, 1000 * red / jobs / used


def idle_commands(servers: list[RedisServer], mode: str, seconds: float = 4.0) -> list[float]:
    """Commands per second each shard runs for one idle worker over all of them."""
    clients = [s.client() for s in servers]
    queues = ",".join(f"q{i}" for i in range(len(servers)))
    proc = start(spec(servers), queues, mode)
    try:
        wait_until(lambda: all(c.scard("resque:workers") >= 1 for c in clients), 60, "the worker")
        time.sleep(1.5)
        before = [commands(c) for c in clients]
        t0 = time.monotonic()
        time.sleep(seconds)
        after = [commands(c) - 1 for c in clients]  # our own INFO
        return [(a - b) / (time.monotonic() - t0) for a, b in zip(after, before, strict=True)]
    finally:
        stop_all([proc])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mode", default="inprocess", choices=["inprocess", "fork", "fork-every"])
    parser.add_argument("--shards", default="1,2,4")
    args = parser.parse_args()
    counts = [int(x) for x in args.shards.split(",")]
    servers = [RedisServer() for _ in range(max(counts))]
    for s in servers:
        s.start()
    try:
        for s in servers:
            s.wait_ready()
        print(f"mode={args.mode} jobs={args.jobs} runs={args.runs} (median)")
        print(f"{'layout':<16}{'jobs/s':>10}{'worker CPU ms/job':>20}{'Redis CPU ms/job/shard':>25}")
        layouts = [("plain", 1)] + [
            (lay, n) for n in counts for lay in ("1 proc", "N procs") if lay == "1 proc" or n > 1
        ]
        for layout, n in layouts:
            results = [run_once(servers[:n], layout, args.jobs, args.mode) for _ in range(args.runs)]
            rate, wcpu, rcpu = (statistics.median(r[i] for r in results) for i in range(3))
            name = layout if layout == "plain" else f"{n} shards, {layout.replace('N', str(n))}"
            print(f"{name:<16}{rate:>10.0f}{wcpu:>20.3f}{rcpu:>25.3f}")
        for n in counts:
            rates = idle_commands(servers[:n], args.mode)
            print(f"idle, {n} shard(s): commands/s per shard " + ", ".join(f"{r:.1f}" for r in rates))
    finally:
        for s in servers:
            s.close()


if __name__ == "__main__":
    main()
