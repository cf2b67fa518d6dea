"""Worker CPU per job when Redis is near and when it is far, per spin mode.

    .venv/bin/python -m bench.bench_spin [--jobs 4000] [--rounds 3] [--delays 0,0.0002,0.001]

The hot path can spin for its reply instead of blocking (pyresque.backends.redis.spin).
That pays on one host and burns CPU when Redis is on another. This bench starts its own
redis-server and, for each added round-trip delay, a delaying TCP proxy in its own
process (bench/_delay_proxy.py: every reply written DELAY later; a delay of ``direct``
means no proxy at all). For each delay it drains ``--jobs`` no-op jobs with an
in-process ``pyresque worker --burst`` in each spin mode (``auto``, the default; ``on``,
the old fixed 0.5 ms spin; ``off``), the modes taking turns at going first in each
round. Reported per delay and mode, as medians over the rounds: jobs/s, worker CPU per
job (``getrusage`` of the worker process), Redis CPU per job, and the ratios to
``on``. Start-up is counted apart: each round also drains one job per mode, and the
figures per job are (N-job drain - 1-job drain) / (N - 1).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis

from bench._server import ROOT, RedisServer, ratio
from tests.redis_server import free_port

QUEUE = "bench"
MODES = ("auto", "on", "off")


def drain(client: redis.Redis, url: str, jobs: int, mode: str) -> tuple[float, float, float]:
    """One drain: (jobs/s, worker CPU us/job, Redis CPU us/job)."""
    client.flushall()
    pipe = client.pipeline(transaction=False)
    for i in range(jobs):
        pipe.rpush(f"resque:queue:{QUEUE}", b'{"class":"noop","args":[],"id":"%032x"}' % i)
    pipe.sadd("resque:queues", QUEUE)
    pipe.execute()

    def redis_cpu() -> float:
        info = client.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    env = dict(os.environ, PYTHONPATH=str(ROOT), BENCH_REDIS_URL=url, BENCH_SPIN=mode)
    # No --redis: given explicitly it would replace the app's backend (and its spin mode).
    cmd = [sys.executable, "-m", "pyresque", "worker", "--queue", QUEUE,
           "--app-include", "bench.spin_bench_app", "--mode", "inprocess", "--burst"]
    cpu0 = redis_cpu()
    use0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stderr=subprocess.DEVNULL)  # its start/stop lines
    wall = time.perf_counter() - began
    use1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = int(client.get("resque:stat:processed") or 0)
    if done != jobs:
        raise SystemExit(f"{mode}: processed {done} of {jobs}")
    worker = (use1.ru_utime + use1.ru_stime) - (use0.ru_utime + use0.ru_stime)
    return jobs / wall, worker / jobs * 1e6, (redis_cpu() - cpu0) / jobs * 1e6


def per_job(client: redis.Redis, url: str, jobs: int, mode: str) -> tuple[float, float, float]:
    """(jobs/s, worker CPU us/job, Redis CPU us/job) of a drain, start-up taken out."""
    start = drain(client, url, 1, mode)
    full = drain(client, url, jobs, mode)
    wall = jobs / full[0] - 1 / start[0]
    return (
        (jobs - 1) / wall,
        (full[1] * jobs - start[1]) / (jobs - 1),
        (full[2] * jobs - start[2]) / (jobs - 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delays", default="direct,0,0.0002,0.001",
                        help="added reply delays in seconds; 'direct' = no proxy")
    opts = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        client = redis.Redis(port=server.port)
        print(f"{opts.jobs} no-op jobs, in-process worker, median of {opts.rounds} rounds")
        print(f"{'delay':>8} {'mode':>5} {'jobs/s':>8} {'worker us/job':>14} {'redis us/job':>13} "
              f"{'cpu vs on':>10} {'speed vs on':>12}")
        for delay in opts.delays.split(","):
            proxy = None
            port = server.port
            if delay != "direct":
                port = free_port()
                proxy = subprocess.Popen(
                    [sys.executable, str(Path(ROOT, "bench", "_delay_proxy.py")), str(port),
                     str(server.port), delay],
                    stdout=subprocess.PIPE,
                )
                assert proxy.stdout is not None
                proxy.stdout.readline()
            url = f"redis://127.0.0.1:{port}/0"
            results: dict[str, list[tuple[float, float, float]]] = {m: [] for m in MODES}
            try:
                for r in range(opts.rounds):
                    order = MODES[r % 3:] + MODES[: r % 3]
                    for mode in order:
                        results[mode].append(per_job(client, url, opts.jobs, mode))
            finally:
                if proxy is not None:
                    proxy.kill()
                    proxy.wait()
            med = {m: tuple(statistics.median(x[i] for x in results[m]) for i in range(3)) for m in MODES}
            label = "direct" if delay == "direct" else f"+{float(delay) * 1e3:.1f}ms"
            for mode in MODES:
                rate, wcpu, rcpu = med[mode]
                print(f"{label:>8} {mode:>5} {rate:8.0f} {wcpu:14.1f} {rcpu:13.1f} "
                      f"{ratio(wcpu, med['on'][1]):>10} {ratio(rate, med['on'][0]):>12}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
