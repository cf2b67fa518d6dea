"""The leader lock on a real redis-server: Ruby-compatible key, takeover after SIGKILL, release."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import redis

from pyresque import ConfigurationError, Resque
from pyresque.core.scheduling.scheduler import Scheduler
from tests.integration.scheduler_procs import LOCK_KEY, SchedulerProc, lock_holder, until

pytestmark = pytest.mark.redis

ITEM = b'{"class":"Foo::Bar","args":[1,"a/b"],"queue":"high"}'


def _due_item(r: redis.Redis, item: bytes = ITEM) -> None:
    ts = int(time.time()) - 1
    r.rpush(f"resque:delayed:{ts}", item)
    r.zadd("resque:delayed_queue_schedule", {str(ts): ts})


def test_lock_key_value_and_ttl_match_resque_scheduler(redis_url: str) -> None:
    """The lock is resque:resque:resque_scheduler_master_lock = host:pid with the configured TTL."""
    app = Resque(redis_url)
    sched = Scheduler(app, interval=1, lock_timeout=30)
    assert sched.poll().leader
    r = redis.Redis.from_url(redis_url)
    assert lock_holder(r) == sched.name
    host, pid = sched.name.rsplit(":", 1)
    assert host == socket.gethostname() and pid.isdigit()
    assert 28 <= r.ttl(LOCK_KEY) <= 30
    r.expire(LOCK_KEY, 5)
    assert sched.poll().leader
    assert r.ttl(LOCK_KEY) >= 28, "each poll refreshes the TTL"


def test_lock_prefix_is_placed_as_resque_scheduler_places_it(redis_url: str) -> None:
    """RESQUE_SCHEDULER_MASTER_LOCK_PREFIX=app1 -> resque:resque:app1:resque_scheduler_master_lock."""
    sched = Scheduler(Resque(redis_url), interval=1, lock_prefix="app1")
    sched.poll()
    r = redis.Redis.from_url(redis_url)
    assert r.get("resque:resque:app1:resque_scheduler_master_lock") == sched.name.encode()


def test_a_ruby_master_holding_the_lock_keeps_us_following(redis_url: str) -> None:
    """While another host:pid holds the lock nothing is promoted; once it is gone we lead."""
    r = redis.Redis.from_url(redis_url)
    r.set(LOCK_KEY, "rubyhost:4242", ex=60)
    _due_item(r)
    sched = Scheduler(Resque(redis_url), interval=1)
    result = sched.poll()
    assert not result.leader and result.promoted.promoted == 0
    assert r.llen("resque:queue:high") == 0
    assert r.get(LOCK_KEY) == b"rubyhost:4242" and r.ttl(LOCK_KEY) > 50, "a follower never touches the lock"
    r.delete(LOCK_KEY)
    assert sched.poll().promoted.promoted == 1


def test_release_deletes_only_our_own_lock(redis_url: str) -> None:
    """After losing the lock to someone else, exiting does not delete their lock."""
    r = redis.Redis.from_url(redis_url)
    sched = Scheduler(Resque(redis_url), interval=1)
    sched.poll()
    r.set(LOCK_KEY, "otherhost:1")
    assert sched.lock.release() is False
    assert r.get(LOCK_KEY) == b"otherhost:1"


def test_interval_must_be_shorter_than_the_lock_timeout(redis_url: str) -> None:
    """A poll interval >= the lock TTL would let the lock lapse: refused."""
    with pytest.raises(ConfigurationError, match="shorter"):
        Scheduler(Resque(redis_url), interval=10, lock_timeout=10)


def test_sigterm_releases_the_lock_and_removes_the_pidfile(redis_url: str, tmp_path: Path) -> None:
    """TERM: the scheduler exits 0, deletes its lock and its pidfile."""
    r = redis.Redis.from_url(redis_url)
    pidfile = tmp_path / "sched.pid"
    proc = SchedulerProc(redis_url, "--interval", "0.1", "--pidfile", str(pidfile))
    try:
        until(lambda: lock_holder(r) is not None, 20, "the lock")
        assert pidfile.read_text().strip() == str(proc.pid)
        assert lock_holder(r) == f"{socket.gethostname()}:{proc.pid}"
        assert proc.terminate() == 0, proc.log()
        assert r.exists(LOCK_KEY) == 0
        assert not pidfile.exists()
    finally:
        proc.close()


def test_follower_takes_over_within_the_expiry_after_the_leader_is_sigkilled(redis_url: str) -> None:
    """Three schedulers, lock TTL 2 s: kill -9 the leader; another leads within TTL + one poll."""
    r = redis.Redis.from_url(redis_url)
    ttl, interval = 2, 0.2
    procs = [
        SchedulerProc(redis_url, "--lock-timeout", str(ttl), "--interval", str(interval)) for _ in range(3)
    ]
    try:
        for p in procs:
            p.wait_started()
        until(lambda: lock_holder(r) is not None, 20, "a leader")
        leader_value = lock_holder(r)
        assert leader_value is not None
        leader = next(p for p in procs if leader_value.endswith(f":{p.pid}"))
        leader.kill()
        killed_at = time.monotonic()
        until(lambda: lock_holder(r) not in (None, leader_value), ttl + 10, "a new leader", step=0.005)
        took = time.monotonic() - killed_at
        new_value = lock_holder(r)
        assert new_value is not None
        assert any(new_value.endswith(f":{p.pid}") for p in procs if p is not leader)
        print(
            f"\nleader SIGKILLed; {new_value} took over after {took:.2f} s "
            f"(lock TTL {ttl} s, poll {interval} s)"
        )
        assert took <= ttl + interval + 1.0
        _due_item(r)
        until(lambda: r.llen("resque:queue:high") == 1, 10, "the new leader to promote")
        new_leader = next(p for p in procs if new_value.endswith(f":{p.pid}"))
        until(lambda: "took over as scheduler leader" in new_leader.log(), 5, "the takeover to be logged")
        assert f"from {leader_value} after following it for" in new_leader.log()
    finally:
        for p in procs:
            p.close()
