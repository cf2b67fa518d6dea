"""Broker contract: every backend queues, reports and removes jobs the same way."""

from __future__ import annotations

import threading

from pyresque import JobMatch, Resque
from pyresque.backends import PushItem
from pyresque.backends.redis import RedisBackend
from pyresque.core.dequeue import dequeue_matching


def test_push_registers_queue_and_appends_in_order(backend: RedisBackend) -> None:
    """push SADDs the queue and RPUSHes: the first pushed is next."""
    backend.broker.push("q", b'{"class":"A","args":[1]}')
    backend.broker.push("q", b'{"class":"A","args":[2]}')
    assert backend.broker.queues() == ["q"]
    assert backend.broker.size("q") == 2
    assert backend.broker.peek("q") == [b'{"class":"A","args":[1]}']
    assert backend.broker.peek("q", 1, 5) == [b'{"class":"A","args":[2]}']


def test_push_many_keeps_order_across_queues(backend: RedisBackend) -> None:
    """Bulk pushes keep per-queue order and register every queue."""
    items = [PushItem("a" if i % 3 else "b", b"%d" % i) for i in range(12_000)]
    backend.broker.push_many(items)
    assert backend.broker.queues() == ["a", "b"]
    assert backend.broker.sizes(["a", "b"]) == {"a": 8000, "b": 4000}
    assert backend.broker.peek("b", 0, 3) == [b"0", b"3", b"6"]


def test_tracked_push_creates_waiting_status_in_the_same_step(backend: RedisBackend) -> None:
    """push with track_id writes the WAITING status."""
    backend.broker.push("q", b"{}", track_id="abc")
    info = backend.statuses.get("abc")
    assert info is not None and info.status == 1


def test_remove_values_reports_what_it_removed(backend: RedisBackend) -> None:
    """Each exact value is removed once; values already gone report False."""
    for raw in (b"x", b"y", b"x"):
        backend.broker.push("q", raw)
    assert backend.broker.remove_values("q", [b"x", b"z", b"x", b"x"]) == [True, False, True, False]
    assert backend.broker.peek("q", 0, -1) == [b"y"]


def test_clear_and_remove_queue(backend: RedisBackend) -> None:
    """clear empties a queue and keeps it known; remove_queue forgets it."""
    for _ in range(3):
        backend.broker.push("q", b"{}")
    assert backend.broker.clear("q") == 3
    assert backend.broker.queues() == ["q"]
    backend.broker.push("q", b"{}")
    assert backend.broker.remove_queue("q") == 1
    assert backend.broker.queues() == []


def test_dequeue_by_class_args_id_and_several_at_once(app: Resque) -> None:
    """dequeue removes by class, exact args, id, or several matches in one call."""
    ids = [app.enqueue("q", "Add", i, i) for i in range(5)]
    app.enqueue("q", "Echo", "keep")
    app.enqueue("q", "Other", 1)
    assert app.dequeue("q", "Add", 2, 2) == 1
    assert app.dequeue("q", "Add", id=ids[4]) == 1
    assert app.dequeue("q", "Add", 9, 9) == 0
    assert dequeue_matching(app, "q", [JobMatch("Add"), JobMatch("Other", args=[1])]) == 4
    assert [j.class_name for j in app.peek("q", 0, 10)] == ["Echo"]
    assert app.dequeue("q") == 1 and app.size("q") == 0


def test_dequeue_never_loses_jobs_popped_concurrently(app: Resque, backend: RedisBackend) -> None:
    """While a consumer pops, dequeue removes only what it finds: popped + removed + left = all."""
    total = 3000
    app.enqueue_many([("q", "Add" if i % 2 else "Echo", [i]) for i in range(total)])
    popped: list[bytes] = []
    key = backend.keys.queue("q")

    def consume() -> None:
        while True:
            raw = backend.client.lpop(key)
            if raw is None:
                return
            popped.append(raw)  # type: ignore[arg-type]

    thread = threading.Thread(target=consume)
    thread.start()
    removed = app.dequeue("q", "Add")
    thread.join()
    left = app.size("q")
    assert removed + len(popped) + left == total
    popped_add = sum(1 for raw in popped if b'"Add"' in raw)
    assert removed + popped_add == total // 2
