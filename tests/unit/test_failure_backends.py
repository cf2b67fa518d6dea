"""Failure backends: RedisMultiQueue keys and management, Multiple, callback, the factory."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from pyresque.backends.failure import CallbackFailureStore, Multiple, make_failure_store
from pyresque.backends.redis import RedisBackend
from pyresque.backends.redis.failure import RedisFailureStore
from pyresque.backends.redis.failure_multi import RedisMultiQueueFailureStore
from pyresque.core.errors import ConfigurationError, FailureNotFound
from pyresque.core.failure import FailureRecord

#: redis-py >= 5.3 deprecates ``get_connection(command_name)``, which the worker's hot path
#: (``backends/redis/workers.py``) still calls; unrelated to what these tests check.
REDIS_PY_DEPRECATION = pytest.mark.filterwarnings("ignore:Call to 'get_connection':DeprecationWarning")
pytestmark = REDIS_PY_DEPRECATION


def _record(queue: str, n: int = 0) -> FailureRecord:
    return FailureRecord(
        failed_at="2026/11/23 17:23:27 UTC",
        payload={"class": "Foo::Bar", "args": [n]},
        exception="RuntimeError",
        error=f"boom {n}",
        backtrace=["x.py:1:in `perform'"],
        worker="host:1:high,low",
        queue=queue,
    )


@pytest.fixture
def multi(backend: RedisBackend) -> RedisMultiQueueFailureStore:
    """The multi-queue store over the current backend (fakeredis and redis-server)."""
    store = make_failure_store("redis_multi_queue", backend)
    assert isinstance(store, RedisMultiQueueFailureStore)
    return store


def test_multi_queue_writes_ruby_keys_and_json(
    backend: RedisBackend, multi: RedisMultiQueueFailureStore
) -> None:
    """A failure from 'high' goes to resque:high_failed; failed_queues holds 'high_failed'."""
    multi.save(_record("high", 1))
    client = backend.client
    assert client.smembers("resque:failed_queues") == {b"high_failed"}
    (raw,) = client.lrange("resque:high_failed", 0, -1)
    data = json.loads(raw)
    assert list(data) == ["failed_at", "payload", "exception", "error", "backtrace", "worker", "queue"]
    assert data["queue"] == "high" and data["payload"] == {"class": "Foo::Bar", "args": [1]}
    assert client.exists("resque:failed") == 0


def test_multi_queue_counts_lists_and_pages_across_queues(multi: RedisMultiQueueFailureStore) -> None:
    """count() sums every list; all() walks lists in name order as one sequence."""
    for i in range(3):
        multi.save(_record("low", i))
    for i in range(10, 12):
        multi.save(_record("high", i))
    assert multi.count() == 5 and multi.count("low") == 3 and multi.count("high") == 2
    assert multi.failure_queues() == ["high_failed", "low_failed"]
    assert [r.error for r in multi.all(0, -1)] == ["boom 10", "boom 11", "boom 0", "boom 1", "boom 2"]
    assert [r.error for r in multi.all(1, 3)] == ["boom 11", "boom 0", "boom 1"]
    assert multi.all(5, 2) == [] and multi.all(0, 0) == []


def test_multi_queue_requeue_and_remove_by_global_index(
    backend: RedisBackend, multi: RedisMultiQueueFailureStore
) -> None:
    """requeue(i) pushes the payload back and marks retried_at; remove(i) deletes that entry."""
    multi.save(_record("high", 1))
    multi.save(_record("low", 2))
    multi.requeue(1)
    assert backend.broker.size("low") == 1
    assert json.loads(backend.broker.peek("low")[0]) == {"class": "Foo::Bar", "args": [2]}
    assert multi.all(1, 1)[0].retried_at is not None
    assert multi.clear_retried() == 1
    multi.remove(0)
    assert multi.count() == 0
    with pytest.raises(FailureNotFound):
        multi.remove(0)
    with pytest.raises(FailureNotFound):
        multi.requeue(-1)


def test_multi_queue_queue_operations_and_clear(
    backend: RedisBackend, multi: RedisMultiQueueFailureStore
) -> None:
    """requeue_queue / remove_queue act on one list; clear drops every list and the set."""
    multi.save(_record("high", 1))
    multi.save(_record("high", 2))
    multi.save(_record("low", 3))
    assert multi.requeue_queue("high") == 2 and backend.broker.size("high") == 2
    assert multi.remove_queue("high") == 2
    assert multi.failure_queues() == ["low_failed"]
    assert multi.requeue_all() == 1 and backend.broker.size("low") == 1
    assert multi.clear() == 1
    assert backend.client.exists("resque:failed_queues", "resque:low_failed") == 0


def test_multiple_writes_everywhere_and_reads_the_first(backend: RedisBackend) -> None:
    """Multiple(failed list, multi-queue): both get the record; reads come from the first."""
    store = make_failure_store(["redis", "redis_multi_queue"], backend)
    assert isinstance(store, Multiple)
    store.save(_record("high", 7))
    assert backend.client.llen("resque:failed") == 1 and backend.client.llen("resque:high_failed") == 1
    assert store.count() == 1 and store.all()[0].error == "boom 7"
    assert store.clear() == 1
    assert backend.client.llen("resque:failed") == 0 and backend.client.llen("resque:high_failed") == 1


def test_multiple_logs_a_failing_secondary_and_raises_a_failing_primary(
    backend: RedisBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken error tracker never loses the record; a broken primary raises."""

    def down(record: FailureRecord) -> None:
        raise ConnectionError("tracker unreachable")

    primary = RedisFailureStore(backend.client, backend.keys)
    with caplog.at_level(logging.ERROR, logger="pyresque.core.failure_backends"):
        Multiple(primary, CallbackFailureStore(down)).save(_record("q"))
    assert primary.count() == 1 and "could not save" in caplog.text
    got: list[FailureRecord] = []
    with pytest.raises(ConnectionError):
        Multiple(CallbackFailureStore(down), CallbackFailureStore(got.append)).save(_record("q"))
    assert got == []


def test_callback_store_hands_records_over_and_keeps_nothing() -> None:
    """Each record reaches the callback; reads are empty and index operations raise."""
    got: list[FailureRecord] = []
    store = CallbackFailureStore(got.append)
    record = _record("q", 3)
    store.save(record)
    assert got == [record]
    assert store.count() == 0 and store.all(0, -1) == [] and store.clear() == 0
    with pytest.raises(FailureNotFound):
        store.requeue(0)
    with pytest.raises(ConfigurationError):
        CallbackFailureStore("not callable")  # type: ignore[arg-type]


def test_factory_accepts_names_stores_and_factories(backend: RedisBackend) -> None:
    """make_failure_store takes names, stores, callables of the backend, and lists."""
    assert isinstance(make_failure_store("redis", backend), RedisFailureStore)
    assert isinstance(make_failure_store("Redis-Multi-Queue", backend), RedisMultiQueueFailureStore)
    mine = CallbackFailureStore(lambda r: None)
    assert make_failure_store(mine, backend) is mine
    built: Any = make_failure_store(lambda b: RedisMultiQueueFailureStore(b.client, b.keys), backend)
    assert isinstance(built, RedisMultiQueueFailureStore)


@pytest.mark.parametrize("spec", ["airbrake", 42, [], lambda b: "nope"])
def test_factory_refuses_unknown_specs_clearly(backend: RedisBackend, spec: object) -> None:
    """Unknown names, non-stores, empty lists and bad factories raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        make_failure_store(spec, backend)


def test_an_app_uses_the_chosen_store_for_every_failure(backend: RedisBackend) -> None:
    """Replacing backend.failures routes the app's reads and writes through the choice."""
    from pyresque import Resque

    backend.failures = make_failure_store("redis_multi_queue", backend)
    app = Resque(backend)
    app.failures.save(_record("mail", 1))
    assert backend.client.llen("resque:mail_failed") == 1 and app.info().failed == 1


class _Fails:
    def perform(self, n: int) -> None:
        raise RuntimeError(f"worker failure {n}")


def _work(app: Any) -> None:
    from pyresque.core.worker import Worker

    app.job(_Fails, name="Fails")
    Worker(app, "q", mode="inprocess", burst=True, heartbeat_interval=0).work()


def test_worker_failures_go_to_the_app_failure_backend(backend: RedisBackend) -> None:
    """Resque(failure_backend="redis_multi_queue"): the worker's record lands in q_failed."""
    from pyresque import Resque

    app = Resque(backend, failure_backend="redis_multi_queue")
    app.enqueue("q", "Fails", 1)
    _work(app)
    assert backend.client.llen("resque:failed") == 0
    (raw,) = backend.client.lrange("resque:q_failed", 0, -1)
    data = json.loads(raw)
    assert data["error"] == "worker failure 1" and data["payload"]["class"] == "Fails"
    assert data["worker"].endswith(":q") and backend.stats.get("failed") == 1
    assert app.failures.count() == 1


def test_multiple_with_a_callback_gets_every_worker_failure(backend: RedisBackend) -> None:
    """failure_backend=["redis", callback]: the failed list and the tracker both get it."""
    from pyresque import Resque

    seen: list[FailureRecord] = []
    app = Resque(backend, failure_backend=["redis", CallbackFailureStore(seen.append)])
    app.enqueue("q", "Fails", 2)
    _work(app)
    assert backend.client.llen("resque:failed") == 1
    assert [r.error for r in seen] == ["worker failure 2"]


def test_a_broken_chosen_store_falls_back_to_the_failed_list(backend: RedisBackend) -> None:
    """If the chosen store cannot save, the worker writes the record to failed: nothing lost."""
    from pyresque import Resque

    def down(record: FailureRecord) -> None:
        raise ConnectionError("tracker unreachable")

    app = Resque(backend, failure_backend=CallbackFailureStore(down))
    app.enqueue("q", "Fails", 3)
    _work(app)
    (raw,) = backend.client.lrange("resque:failed", 0, -1)
    assert json.loads(raw)["error"] == "worker failure 3"


def test_cli_apps_honour_ruby_failure_backend_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """FAILURE_BACKEND=redis_multi_queue (Ruby's variable) picks the store of CLI-built apps."""
    import click

    from pyresque.cli.common import make_app

    monkeypatch.setenv("FAILURE_BACKEND", "redis_multi_queue")
    assert isinstance(make_app("fakeredis://", None, None).failures, RedisMultiQueueFailureStore)
    monkeypatch.setenv("FAILURE_BACKEND", "airbrake")
    with pytest.raises(click.ClickException, match="airbrake"):
        make_app("fakeredis://", None, None)
    monkeypatch.delenv("FAILURE_BACKEND")
    assert isinstance(make_app("fakeredis://", None, None).failures, RedisFailureStore)
