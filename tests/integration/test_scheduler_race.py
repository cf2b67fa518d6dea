"""Concurrent and killed schedulers over real redis-server: each delayed item enqueued once."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest
import redis

from pyresque import Resque
from pyresque.core.scheduling.promotion import Promoter
from tests.integration.scheduler_procs import SchedulerProc, until

pytestmark = [pytest.mark.redis, pytest.mark.slow]

N_ITEMS = 10_000


def _write_items(r: redis.Redis, first_ts: int, n: int, spread: int) -> set[bytes]:
    """n resque-scheduler items spread over `spread` seconds, with reverse index; returns them."""
    items = set()
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        ts = first_ts + i % spread
        item = b'{"class":"Foo::Bar","args":[%d,"a/b"],"queue":"race"}' % i
        items.add(item)
        pipe.rpush(f"resque:delayed:{ts}", item)
        pipe.sadd(b"resque:timestamps:" + item, f"delayed:{ts}")
        pipe.zadd("resque:delayed_queue_schedule", {str(ts): ts})
    pipe.execute()
    return items


def test_three_schedulers_racing_over_10000_items_enqueue_each_once(redis_url: str) -> None:
    """Three lock-less scheduler processes poll the same due items: 10,000 jobs, no duplicate, none lost."""
    r = redis.Redis.from_url(redis_url)
    procs = [
        SchedulerProc(redis_url, "--no-lock", "--interval", "0.05", "--batch-size", "50") for _ in range(3)
    ]
    try:
        for p in procs:
            p.wait_started()
        items = _write_items(r, int(time.time()) + 1, N_ITEMS, spread=3)
        until(
            lambda: r.llen("resque:queue:race") >= N_ITEMS and r.zcard("resque:delayed_queue_schedule") == 0,
            45,
            "all items promoted",
        )
        time.sleep(0.3)  # stragglers would show up as extra jobs
        for p in procs:
            assert p.terminate() == 0, p.log()
        queued = r.lrange("resque:queue:race", 0, -1)
        counts = Counter(queued)
        assert len(queued) == N_ITEMS
        assert set(counts) == items and max(counts.values()) == 1
        per_proc = [p.promoted() for p in procs]
        assert sum(per_proc) == N_ITEMS, per_proc
        assert sum(1 for n in per_proc if n > 0) >= 2, f"no real race happened: {per_proc}"
        assert r.keys("resque:timestamps:*") == [] and r.keys("resque:delayed:1*") == []
        print(f"items promoted per scheduler: {per_proc}")
    finally:
        for p in procs:
            p.close()


def test_scheduler_killed_at_random_instants_never_loses_or_duplicates(redis_url: str) -> None:
    """SIGKILL a promoting scheduler three times mid-run; queued + delayed stays 10,000, no duplicate."""
    r = redis.Redis.from_url(redis_url)
    items = _write_items(r, int(time.time()) - 5, N_ITEMS, spread=2)
    rng = random.Random(5)
    for round_no in range(3):
        proc = SchedulerProc(redis_url, "--interval", "0.05", "--batch-size", "1", "--lock-timeout", "2")
        try:
            proc.wait_started()
            before = int(r.llen("resque:queue:race"))

            def moved(before: int = before) -> bool:
                return int(r.llen("resque:queue:race")) > before

            until(moved, 30, "promotion to begin")
            time.sleep(rng.uniform(0.0, 0.1))
            proc.kill()
        finally:
            proc.close()
        queued = r.lrange("resque:queue:race", 0, -1)
        delayed = [
            x
            for ts in r.zrange("resque:delayed_queue_schedule", 0, -1)
            for x in r.lrange(b"resque:delayed:" + ts, 0, -1)
        ]
        assert len(queued) + len(delayed) == N_ITEMS, f"round {round_no}"
        assert set(queued) | set(delayed) == items
        assert len(set(queued)) == len(queued) and not set(queued) & set(delayed)
        if round_no == 0:
            assert len(queued) < N_ITEMS, "the first kill should land mid-run"
        r.delete("resque:resque:resque_scheduler_master_lock")  # the killed leader's lock
    app = Resque(redis_url)
    Promoter(app).promote_due(int(time.time()))
    queued = r.lrange("resque:queue:race", 0, -1)
    assert sorted(queued) == sorted(items)
