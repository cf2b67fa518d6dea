"""What the Redis Cluster script guard costs (``pyresque/backends/redis/cluster.py``), on a
real three-master cluster started here (tests/sentinel_cluster.py), in three modes:
``bare`` (no guard: what the client sent before), ``keys`` (the default: the script's
guarded variant with two guard keys added) and ``multi`` (the fallback for a script of
unknown source: ``MULTI; <script>; EXISTS guard guard; EXEC``).

Per turn: ``--jobs`` enqueues (the ENQUEUE script) then a drain of them through the
worker registry's RESERVE (finish + take, the hot path), on one connection. Turns go
ABBA (guarded, bare, bare, guarded ...); reported: medians of the client's CPU per job
and the slot owner's Redis CPU per job (``INFO cpu`` before and after), and wall time
per job. Turns rotate ``bare keys multi multi keys bare``. Run::

    .venv/bin/python -m bench.bench_cluster_guard --jobs 3000 --rounds 4
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from pyresque import Resque
from pyresque.backends.redis import cluster_redirects
from tests.sentinel_cluster import Cluster

QUEUE = "bench"


def _redis_cpu(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


MODES = ("bare", "keys", "multi")


def _turn(app: Resque, owner: Any, jobs: int, mode: str) -> tuple[float, float, float]:
    saved = cluster_redirects.SCRIPT_COMMANDS, cluster_redirects.guarded_script
    if mode == "bare":
        cluster_redirects.SCRIPT_COMMANDS = frozenset()
    elif mode == "multi":
        cluster_redirects.guarded_script = lambda args, guards: None
    try:
        backend: Any = app.backend
        backend.client.connection_pool.disconnect()  # fresh connections for the mode
        registry: Any = app.backend.workers
        cpu0, wall0, redis0 = time.process_time(), time.perf_counter(), _redis_cpu(owner)
        for i in range(jobs):
            app.enqueue(QUEUE, "Job", i)
        token, previous = "t0", None
        for i in range(jobs):
            step = registry.reserve(
                "bench:1:q", [QUEUE], "2026-12-02T04:00:00Z", token=f"t{i + 1}",
                done_token=token, finish_previous=previous is not None,
            )  # fmt: skip
            token, previous = f"t{i + 1}", step.taken
        registry.reserve("bench:1:q", [QUEUE], "2026-12-02T04:00:00Z", token="end",
                         done_token=token, finish_previous=True, take=False)  # fmt: skip
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        redis_cpu = _redis_cpu(owner) - redis0
    finally:
        cluster_redirects.SCRIPT_COMMANDS, cluster_redirects.guarded_script = saved
    assert app.size(QUEUE) == 0
    return cpu / jobs, redis_cpu / jobs, wall / jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds (each: 2 turns per mode)")
    args = parser.parse_args()
    cluster = Cluster(3)
    cluster.start()
    try:
        app = Resque(cluster.url())
        owner = cluster.owner_of("{resque}").client()
        for mode in MODES:
            _turn(app, owner, 200, mode)  # warm-up: scripts loaded, connections open
        results: dict[str, list[tuple[float, float, float]]] = {mode: [] for mode in MODES}
        for _ in range(args.rounds):
            for mode in (*MODES, *reversed(MODES)):
                results[mode].append(_turn(app, owner, args.jobs, mode))
        for mode in MODES:
            rows = results[mode]
            client, redis_cpu, wall = (statistics.median(r[i] for r in rows) for i in range(3))
            print(
                f"{mode:5}: client CPU {client * 1e6:6.1f} us/job  Redis CPU {redis_cpu * 1e6:6.1f} us/job"
                f"  wall {wall * 1e6:6.1f} us/job  (enqueue + reserve, medians of {len(rows)})"
            )
        app.close()
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
