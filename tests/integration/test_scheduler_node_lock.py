"""--lock-style node: pyresque shares node-resque's leader lock, so only one of them leads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from pyresque import ConfigurationError, Resque
from pyresque.core.scheduling.scheduler import Scheduler
from tests.interop.node import NodeResque, NodeUnavailable, install_node_resque, running, wait_for
from tests.redis_server import in_ci

pytestmark = [pytest.mark.redis, pytest.mark.interop]

NODE_LOCK = "resque:resque_scheduler_leader_lock"
RUBY_LOCK = "resque:resque:resque_scheduler_master_lock"


@pytest.fixture
def node(redis_url: str) -> Iterator[NodeResque]:
    """node-resque scripts on this test's redis-server (skipped without node, failed in CI)."""
    try:
        modules = install_node_resque()
    except NodeUnavailable as exc:
        if in_ci():
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    helper = NodeResque(modules, redis_url)
    yield helper
    helper.close()


def test_node_style_lock_uses_node_resques_key(redis_url: str) -> None:
    """lock_style='node' writes resque:resque_scheduler_leader_lock = host:pid, not Ruby's key."""
    sched = Scheduler(Resque(redis_url), interval=1, lock_style="node", name="pyhost:7")
    assert sched.poll().leader
    r = redis.Redis.from_url(redis_url)
    assert r.get(NODE_LOCK) == b"pyhost:7" and r.exists(RUBY_LOCK) == 0
    sched.lock.release()
    assert r.exists(NODE_LOCK) == 0


def test_node_style_refuses_a_lock_prefix(redis_url: str) -> None:
    """node-resque's lock has no prefix: asking for one is a configuration error."""
    with pytest.raises(ConfigurationError, match="prefix"):
        Scheduler(Resque(redis_url), interval=1, lock_style="node", lock_prefix="p")


def test_pyresque_follows_a_leading_node_scheduler_then_leads_after_it(
    redis_url: str, node: NodeResque
) -> None:
    """While node's scheduler leads, pyresque (node style) follows; when node ends, pyresque leads."""
    r = redis.Redis.from_url(redis_url)
    with running(node.start_scheduler(poll_ms=50, min_ms=1500, timeout=20)) as proc:
        holder = wait_for(lambda: r.get(NODE_LOCK))
        sched = Scheduler(Resque(redis_url), interval=0.1, lock_style="node", name="pyhost:1")
        assert not sched.poll().leader
        assert r.get(NODE_LOCK) == holder != b"pyhost:1"
        proc.communicate(timeout=20)
    assert proc.returncode == 0
    wait_for(lambda: r.get(NODE_LOCK) is None, timeout=10)
    assert sched.poll().leader
    assert r.get(NODE_LOCK) == b"pyhost:1"
    sched.lock.release()
