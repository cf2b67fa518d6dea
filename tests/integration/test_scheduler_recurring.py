"""Recurring schedules with several scheduler processes: each tick enqueued exactly once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis

from tests.integration.scheduler_procs import SchedulerProc, lock_holder, until

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def _schedule_file(tmp_path: Path, first: int, last: int) -> Path:
    path = tmp_path / "schedule.yml"
    path.write_text(
        "tick:\n"
        f"  every: ['1s', {{first_at: {first}, last_at: {last}}}]\n"
        "  class: Foo::Bar\n"
        "  queue: ticks\n"
        "  args: [1, a/b]\n"
        "  description: every second for ten seconds\n"
    )
    return path


def _run_three(redis_url: str, schedule: Path, *extra: str) -> list[SchedulerProc]:
    procs = [
        SchedulerProc(
            redis_url, "--schedule", str(schedule), "--lock-timeout", "2", "--interval", "0.5", *extra
        )
        for _ in range(3)
    ]
    for p in procs:
        p.wait_started()
    return procs


def _check_ten(r: redis.Redis, first: int) -> None:
    jobs = [json.loads(x) for x in r.lrange("resque:queue:ticks", 0, -1)]
    assert len(jobs) == 10, f"{len(jobs)} enqueues"
    assert {(j["class"], tuple(j["args"])) for j in jobs} == {("Foo::Bar", (1, "a/b"))}
    assert len({j["id"] for j in jobs}) == 10
    assert r.hget("resque:schedule_ticks", "tick") == str(first + 9).encode()
    assert r.hexists("resque:delayed:last_enqueued_at", "tick")


def test_every_second_schedule_for_ten_seconds_with_three_schedulers_enqueues_ten(
    redis_url: str, tmp_path: Path
) -> None:
    """Three scheduler processes, 'every 1s' for 10 s: exactly 10 jobs."""
    r = redis.Redis.from_url(redis_url)
    first = int(time.time()) + 3
    procs = _run_three(redis_url, _schedule_file(tmp_path, first, first + 9))
    try:
        until(lambda: time.time() >= first + 11, 30, "the schedule window to pass", step=0.1)
        for p in procs:
            assert p.terminate() == 0, p.log()
        _check_ten(r, first)
    finally:
        for p in procs:
            p.close()


def test_leader_killed_mid_schedule_with_catch_up_still_enqueues_each_tick_once(
    redis_url: str, tmp_path: Path
) -> None:
    """SIGKILL the leader 4 s in; with --missed catch_up the next leader fills the gap: exactly 10."""
    r = redis.Redis.from_url(redis_url)
    first = int(time.time()) + 3
    procs = _run_three(redis_url, _schedule_file(tmp_path, first, first + 9), "--missed", "catch_up")
    try:
        until(lambda: time.time() >= first + 4, 30, "four ticks", step=0.05)
        value = lock_holder(r)
        assert value is not None
        leader = next(p for p in procs if value.endswith(f":{p.pid}"))
        leader.kill()
        until(lambda: time.time() >= first + 12, 30, "the schedule window to pass", step=0.1)
        assert lock_holder(r) not in (None, value)
        for p in procs:
            if p is not leader:
                assert p.terminate() == 0, p.log()
        _check_ten(r, first)
    finally:
        for p in procs:
            p.close()


def test_dynamic_schedule_edited_while_the_scheduler_runs(redis_url: str) -> None:
    """set_schedule on a running scheduler starts the schedule; remove_schedule stops it."""
    from pyresque import Resque

    r = redis.Redis.from_url(redis_url)
    app = Resque(redis_url)
    proc = SchedulerProc(redis_url, "--interval", "0.2")
    try:
        proc.wait_started()
        app.set_schedule("dyn", {"class": "Foo::Bar", "every": "1s", "queue": "dyn", "args": [7]})
        until(lambda: r.llen("resque:queue:dyn") >= 2, 15, "the dynamic schedule to run twice")
        app.remove_schedule("dyn")
        time.sleep(0.5)  # the next poll takes the removal
        settled = r.llen("resque:queue:dyn")
        time.sleep(2.5)
        assert r.llen("resque:queue:dyn") == settled, "a removed schedule kept running"
        assert json.loads(r.lindex("resque:queue:dyn", 0) or b"{}")["args"] == [7]
        assert proc.terminate() == 0, proc.log()
    finally:
        proc.close()
        app.close()
