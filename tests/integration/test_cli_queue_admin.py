"""Queue administration on a real redis-server: pruning empty queues while jobs are
pushed and popped never leaves a job in an unregistered queue; ``dequeue --id`` and
``queues remove`` through the CLI."""

from __future__ import annotations

import threading

import redis
from click.testing import CliRunner

from pyresque import Resque
from pyresque.cli import main

QUEUES = [f"q{i}" for i in range(4)]
PUSHES = 1500


def _orphans(client: redis.Redis) -> list[str]:
    """Queues holding jobs while unregistered, read in one MULTI (one instant)."""
    pipe = client.pipeline(transaction=True)
    pipe.smembers("resque:queues")
    for q in QUEUES:
        pipe.exists(f"resque:queue:{q}")
    members, *exists = pipe.execute()
    names = {m.decode() for m in members}
    return [q for q, there in zip(QUEUES, exists, strict=True) if there and q not in names]


def test_prune_never_orphans_a_job_pushed_at_the_same_instant(redis_url: str) -> None:
    """A producer pushes, a consumer pops (queues go empty again and again) and a pruner
    prunes without pause; a checker reading set and lists atomically never sees a queue
    that holds a job but is not registered."""
    producer_app, pruner_app = Resque(redis_url), Resque(redis_url)
    consumer, checker = redis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    done = threading.Event()
    seen: list[list[str]] = []
    pruned = [0]

    def produce() -> None:
        for n in range(PUSHES):
            producer_app.enqueue(QUEUES[n % len(QUEUES)], "Job", n)
        done.set()

    def consume() -> None:
        while not done.is_set():
            for q in QUEUES:
                consumer.lpop(f"resque:queue:{q}")

    def prune() -> None:
        broker = pruner_app.backend.broker
        while not done.is_set():
            pruned[0] += len(broker.unregister_empty(QUEUES))

    def check() -> None:
        while not done.is_set():
            found = _orphans(checker)
            if found:
                seen.append(found)

    threads = [threading.Thread(target=f) for f in (produce, consume, prune, check)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
        assert not any(t.is_alive() for t in threads)
        assert seen == []
        assert _orphans(checker) == []
        assert pruned[0] > 0  # the pruner did prune queues the consumer emptied
    finally:
        done.set()
        producer_app.close()
        pruner_app.close()
        consumer.close()
        checker.close()


def test_prune_repeat_after_a_push_keeps_the_queue(redis_url: str) -> None:
    """Running the prune script again (as after a lost reply) once a job arrived keeps the queue."""
    app = Resque(redis_url)
    try:
        client = app.backend.client  # type: ignore[attr-defined]
        client.sadd("resque:queues", "a")
        assert app.backend.broker.unregister_empty(["a"]) == ["a"]
        app.enqueue("a", "Job")
        assert app.backend.broker.unregister_empty(["a"]) == []
        assert app.queues() == ["a"]
    finally:
        app.close()


def test_cli_prune_dequeue_by_id_and_remove_on_redis(redis_url: str, app: Resque) -> None:
    """The commands against a real server: prune, dequeue by id alone, remove a queue."""
    keep = app.enqueue("work", "A", 1)
    drop = app.enqueue("work", "B", 2)
    app.backend.client.sadd("resque:queues", "stale")  # type: ignore[attr-defined]

    def cli(*args: str) -> str:
        result = CliRunner().invoke(main, ["--redis", redis_url, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    assert "unregistered stale" in cli("queues", "--prune-empty", "--grace", "0")
    assert "removed 1 job from work" in cli("dequeue", "work", "--id", drop)
    assert [j.id for j in app.peek("work", 0, 10)] == [keep]
    assert "removed queue work and 1 job" in cli("queues", "remove", "work", "--yes")
    assert app.queues() == []
