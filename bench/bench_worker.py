"""Worker throughput and idle-start latency: pyresque's modes next to RQ, in one run.

    .venv/bin/python -m bench.bench_worker [--jobs 10000] [--runs 3] [--quick]

Starts its own redis-server on a free port. For each contender it starts the worker
process(es), waits until they are idle, pushes N no-op jobs in one pipeline and times
until all are processed; the median of ``--runs`` runs is reported with the ratio to RQ
``Worker`` and ``SimpleWorker`` and the Redis round trips per job (the server's
``total_reads_processed``: one per request batch a client sends, the bench's own polls
subtracted). The slow forking peers drain fewer jobs (printed in the table) so a full
run stays within a few minutes. Then the idle-start latency: an idle worker, one job at
a time, enqueue-to-start time p50/p95/p99.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from bench._server import ROOT, RedisServer, ratio
from pyresque import EnqueueRequest, Resque
from pyresque.backends.redis.spin import pool_connection

QUEUE = "bench"


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def start_pyresque(
    url: str, mode: list[str], queues: str = QUEUE, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """A ``pyresque worker`` process with the bench jobs included."""
    cmd = [
        sys.executable,
        "-m",
        "pyresque",
        "worker",
        "--queue",
        queues,
        "--redis",
        url,
        "--app-include",
        "bench.worker_bench_jobs",
        *mode,
    ]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=_env(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def start_rq(url: str, worker_class: str) -> subprocess.Popen[bytes]:
    """An ``rq worker`` process on the bench queue."""
    rq = str(Path(sys.executable).parent / "rq")
    cmd = [rq, "worker", "-u", url, "-w", worker_class, "-q", QUEUE]
    return subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
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


def reads(client: redis.Redis) -> int:
    return int(client.info("stats")["total_reads_processed"])


class Contender:
    """One way of draining the queue."""

    def __init__(
        self, name: str, jobs: int, start: Callable[[str], list[subprocess.Popen[bytes]]], kind: str
    ) -> None:
        self.name = name
        self.jobs = jobs
        self.start = start
        self.kind = kind  # "pyresque" or "rq"
        self.rates: list[float] = []
        self.trips: list[float] = []

    def run_once(self, server: RedisServer) -> None:
        client = server.client()
        client.flushall()
        procs = self.start(server.url)
        try:
            n_workers = len(procs) if self.kind == "pyresque" else 1
            key = "resque:workers" if self.kind == "pyresque" else "rq:workers"
            wait_until(lambda: client.scard(key) >= n_workers, 30, f"{self.name} to start")
            time.sleep(0.3)
            before = reads(client)
            polls = 0
            t0 = time.perf_counter()
            if self.kind == "pyresque":
                app = Resque(server.url)
                app.enqueue_many(EnqueueRequest(QUEUE, "noop", ()) for _ in range(self.jobs))
                app.close()
                done_key = "resque:stat:processed"

                def done() -> int:
                    return int(client.getrange(done_key, 0, -1) or 0)
            else:
                from rq import Queue

                q = Queue(QUEUE, connection=client)
                from bench.worker_bench_jobs import noop

                for start in range(0, self.jobs, 1000):
                    with client.pipeline() as pipe:
                        q.enqueue_many(
                            [
                                Queue.prepare_data(noop, result_ttl=600)
                                for _ in range(min(1000, self.jobs - start))
                            ],
                            pipeline=pipe,
                        )
                        pipe.execute()

                def done() -> int:
                    return int(client.zcard(f"rq:finished:{QUEUE}"))

            enqueue_reads = reads(client) - before
            while done() < self.jobs:
                polls += 1
                time.sleep(0.002)
            elapsed = time.perf_counter() - t0
            total = reads(client) - before
            self.rates.append(self.jobs / elapsed)
            # subtract the bench's own commands: enqueue batches, polls, and the INFO calls
            self.trips.append(max(0, total - enqueue_reads - polls - 2) / self.jobs)
        finally:
            stop_all(procs)

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def round_trips(self) -> float:
        return statistics.median(self.trips)


def latency_run(server: RedisServer, mode: list[str], queues: str, target: str, samples: int) -> list[float]:
    """Enqueue one job at a time to an idle worker; the job records enqueue-to-start time."""
    client = server.client()
    client.flushall()
    with tempfile.NamedTemporaryFile(prefix="pyresque-lat-", delete=False) as fh:
        path = fh.name
    proc = start_pyresque(server.url, mode, queues, env={"BENCH_LATENCY_FILE": path})
    try:
        wait_until(lambda: client.scard("resque:workers") >= 1, 30, "the worker")
        time.sleep(0.5)
        app = Resque(server.url)
        rng = random.Random(7)
        for _ in range(samples):
            app.enqueue(target, "latency", time.time())
            time.sleep(rng.uniform(0.01, 0.03))
        wait_until(lambda: len(Path(path).read_text().split()) >= samples, 30, "latency samples")
        app.close()
        return sorted(float(x) * 1000 for x in Path(path).read_text().split())
    finally:
        stop_all([proc])
        os.unlink(path)


def ping_rtt(server: RedisServer, n: int = 5000) -> float:
    """Median-ish cost of one bare round trip (PING on a raw connection), in microseconds."""
    client = server.client()
    conn = pool_connection(client)
    try:
        samples = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(n // 5):
                conn.send_command("PING")
                conn.read_response()
            samples.append((time.perf_counter() - t0) / (n // 5) * 1e6)
        return statistics.median(samples)
    finally:
        client.connection_pool.release(conn)


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs per drain for the fast contenders")
    parser.add_argument("--fork-jobs", type=int, default=2_000, help="jobs for pyresque fork-per-job")
    parser.add_argument("--rq-jobs", type=int, default=300, help="jobs for RQ Worker (forks per job)")
    parser.add_argument("--rq-simple-jobs", type=int, default=1_000, help="jobs for RQ SimpleWorker")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=300, help="latency samples per setup")
    parser.add_argument("--quick", action="store_true", help="a tenth of everything (smoke run)")
    opts = parser.parse_args()
    if opts.quick:
        opts.jobs, opts.fork_jobs, opts.rq_jobs, opts.rq_simple_jobs = 1000, 200, 50, 100
        opts.runs, opts.samples = 1, 50
    n = opts.jobs

    def one(mode: list[str]) -> Callable[[str], list[subprocess.Popen[bytes]]]:
        return lambda url: [start_pyresque(url, mode)]

    def two(mode: list[str]) -> Callable[[str], list[subprocess.Popen[bytes]]]:
        return lambda url: [start_pyresque(url, mode), start_pyresque(url, mode)]

    contenders = [
        Contender("pyresque fork per job", opts.fork_jobs, one(["--mode", "fork"]), "pyresque"),
        Contender(
            "pyresque fork every 100", n, one(["--mode", "fork-every", "--jobs-per-child", "100"]), "pyresque"
        ),
        Contender("pyresque in-process", n, one(["--mode", "inprocess"]), "pyresque"),
        Contender("pyresque in-process x2 procs", n, two(["--mode", "inprocess"]), "pyresque"),
        Contender(
            "pyresque fork-every-100 x2",
            n,
            two(["--mode", "fork-every", "--jobs-per-child", "100"]),
            "pyresque",
        ),
        Contender("RQ Worker (fork)", opts.rq_jobs, lambda url: [start_rq(url, "rq.worker.Worker")], "rq"),
        Contender(
            "RQ SimpleWorker",
            opts.rq_simple_jobs,
            lambda url: [start_rq(url, "rq.worker.SimpleWorker")],
            "rq",
        ),
    ]
    server = RedisServer()
    server.start()
    began = time.monotonic()
    try:
        for c in contenders:
            for _ in range(opts.runs):
                c.run_once(server)
            print(f"  measured {c.name}: {c.rate:,.0f} jobs/s", file=sys.stderr, flush=True)
        rq_fork, rq_simple = contenders[-2], contenders[-1]
        print(f"\nDrain of queued no-op jobs, median of {opts.runs} runs (2-core machine)\n")
        print(
            f"{'contender':32} {'jobs':>6} {'jobs/s':>9} {'vs RQ Worker':>13} "
            f"{'vs SimpleWorker':>16} {'round trips/job':>16}"
        )
        for c in contenders:
            print(
                f"{c.name:32} {c.jobs:>6} {c.rate:>9,.0f} {ratio(c.rate, rq_fork.rate):>13} "
                f"{ratio(c.rate, rq_simple.rate):>16} {c.round_trips:>16.2f}"
            )
        inproc = contenders[2].rate
        every = contenders[1].rate
        print(f"\nfork-every-100 / in-process: {every / inproc:.0%}")
        rtt = ping_rtt(server)
        print(
            f"Redis PING round trip on this machine now: {rtt:.0f} us; one round trip per job caps "
            f"one sequential worker at {1e6 / rtt:,.0f} jobs/s before any job code runs"
        )

        print(f"\nIdle-start latency (enqueue -> job starts), {opts.samples} jobs one at a time, ms\n")
        print(f"{'setup':48} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}")
        setups = [
            ("in-process, one queue", ["--mode", "inprocess"], QUEUE, QUEUE),
            ("in-process, 'high,low' (job on low)", ["--mode", "inprocess"], "high,low", "low"),
            ("fork-every-100, one queue", ["--mode", "fork-every"], QUEUE, QUEUE),
            ("fork per job, one queue", ["--mode", "fork"], QUEUE, QUEUE),
        ]
        for name, mode, queues, target in setups:
            lat = latency_run(server, mode, queues, target, opts.samples)
            print(f"{name:48} {pct(lat, 50):>7.2f} {pct(lat, 95):>7.2f} {pct(lat, 99):>7.2f} {lat[-1]:>7.2f}")
        print(f"\ntotal bench time {time.monotonic() - began:.0f} s")
    finally:
        server.close()


if __name__ == "__main__":
    main()
