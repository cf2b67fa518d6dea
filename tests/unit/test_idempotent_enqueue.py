"""Idempotent enqueue: caller-chosen job ids and idempotency keys, on fakeredis and Redis.

Every test that takes ``app``/``backend`` runs twice (``backend_kind``: fakeredis and the
session's redis-server), so both backends are held to the same behaviour.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from pyresque import BackendConnectionError, ConfigurationError, EnqueueRequest, JobStatus, Resque, hookimpl
from pyresque.backends.redis import RedisBackend
from pyresque.backends.redis.scripts import ENQUEUE
from pyresque.core.job import Job
from tests.roundtrips import CountingConnection


def _ids(app: Resque, queue: str = "q") -> list[str | None]:
    return [job.id for job in app.peek(queue, 0, -1)]


def _keys(backend: RedisBackend) -> set[str]:
    return {k.decode() for k in backend.client.keys("*")}  # type: ignore[union-attr]


class Recorder:
    """Counts enqueue hooks."""

    def __init__(self) -> None:
        self.before: list[str | None] = []
        self.after: list[str | None] = []

    @hookimpl
    def pyresque_before_enqueue(self, app: Resque, job: Job) -> None:
        self.before.append(job.id)

    @hookimpl
    def pyresque_after_enqueue(self, app: Resque, job: Job) -> None:
        self.after.append(job.id)


def _lose_replies(backend: RedisBackend, name: str, lost: int) -> list[int]:
    """Make the next ``lost`` calls of ``backend.broker.<name>`` run, then raise as if
    their reply was lost; returns a one-item list counting the calls that ran."""
    real: Callable[..., Any] = getattr(backend.broker, name)
    ran = [0]

    def lossy(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        ran[0] += 1
        if ran[0] <= lost:
            raise redis.ConnectionError("reply lost (test)")
        return result

    setattr(backend.broker, name, lossy)
    return ran


# -- repeats ---------------------------------------------------------------------------
def test_a_repeat_with_the_same_key_is_a_no_op_returning_the_same_id(app: Resque) -> None:
    """The second call with the key pushes nothing and returns the first call's id."""
    first = app.enqueue("q", "Add", 1, 2, idempotency_key="order-7:confirm")
    again = app.enqueue("q", "Add", 1, 2, idempotency_key="order-7:confirm")
    other_args = app.enqueue("q", "Add", 9, 9, idempotency_key="order-7:confirm")
    assert again == first == other_args
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert _ids(app) == [first]


def test_a_different_key_enqueues(app: Resque) -> None:
    """Distinct keys are distinct jobs, even with identical arguments."""
    a = app.enqueue("q", "Add", 1, 2, idempotency_key="a")
    b = app.enqueue("q", "Add", 1, 2, idempotency_key="b")
    assert a != b
    assert _ids(app) == [a, b]


def test_a_caller_chosen_job_id_is_the_payload_id_and_guards_repeats(
    app: Resque, backend: RedisBackend
) -> None:
    """``job_id`` is written as the payload's id; with no key it is the key itself."""
    assert app.enqueue("q", "Add", 1, 2, job_id="order-42") == "order-42"
    assert app.enqueue("q", "Add", 1, 2, job_id="order-42") == "order-42"
    (raw,) = backend.broker.peek("q", 0, -1)
    payload = json.loads(raw)
    assert list(payload)[:3] == ["class", "args", "id"] and payload["id"] == "order-42"
    assert "resque:enqueued:order-42" in _keys(backend)


def test_a_key_and_a_job_id_together_are_keyed_by_the_key(app: Resque) -> None:
    """The key decides repeats; the id names the job."""
    assert app.enqueue("q", "Add", 1, 2, job_id="j1", idempotency_key="k") == "j1"
    assert app.enqueue("q", "Add", 1, 2, job_id="j2", idempotency_key="k") == "j1"
    assert app.enqueue("q", "Add", 1, 2, job_id="j2", idempotency_key="k2") == "j2"
    assert _ids(app) == ["j1", "j2"]


def test_the_status_is_not_reset_on_a_repeat(app: Resque, backend: RedisBackend) -> None:
    """A repeat of a tracked enqueue leaves the job's status as the worker set it."""
    job_id = app.enqueue("q", "Add", 1, 2, idempotency_key="k", track_status=True)
    assert app.tracked(job_id).status is JobStatus.WAITING
    backend.statuses.update(job_id, JobStatus.RUNNING)
    assert app.enqueue("q", "Add", 1, 2, idempotency_key="k", track_status=True) == job_id
    assert app.tracked(job_id).status is JobStatus.RUNNING
    assert app.size("q") == 1


def test_the_marker_expires_after_the_app_ttl_and_the_key_enqueues_again(backend: RedisBackend) -> None:
    """``idempotency_ttl`` is the marker's TTL; once it expired, the key is free again."""
    default = Resque(backend)
    default.enqueue("q", "Add", 0, 0, idempotency_key="day")
    assert 86_000 < int(backend.client.ttl("resque:enqueued:day")) <= 86_400
    app = Resque(backend, idempotency_ttl=1)
    first = app.enqueue("q", "Add", 1, 2, idempotency_key="short")
    assert 0 < int(backend.client.ttl("resque:enqueued:short")) <= 1
    deadline = time.monotonic() + 30
    again = first
    while again == first and time.monotonic() < deadline:
        time.sleep(0.25)
        again = app.enqueue("q", "Add", 1, 2, idempotency_key="short")
    assert again != first
    assert app.size("q") == 3


# -- hooks and safe retries --------------------------------------------------------------
def test_hooks_on_a_repeat_before_runs_after_does_not(backend: RedisBackend) -> None:
    """A later call that finds the key taken runs ``before_enqueue`` (Redis is not asked
    yet) but not ``after_enqueue`` (it enqueued nothing)."""
    rec = Recorder()
    app = Resque(backend, plugins=[rec])
    first = app.enqueue("q", "Add", 1, 2, idempotency_key="k")
    app.enqueue("q", "Add", 1, 2, idempotency_key="k")
    assert len(rec.before) == 2
    assert rec.after == [first]


def test_retries_after_lost_replies_enqueue_once_and_run_hooks_once(backend: RedisBackend) -> None:
    """Two replies lost after the push ran: the third attempt finds the marker, returns
    the id, and ``after_enqueue`` runs once for the job this call pushed."""
    rec = Recorder()
    app = Resque(backend, plugins=[rec])
    ran = _lose_replies(backend, "push_once", lost=2)
    job_id = app.enqueue("q", "Add", 1, 2, idempotency_key="k", retries=2)
    assert ran == [3]
    assert _ids(app) == [job_id]
    assert rec.before == [job_id] and rec.after == [job_id]


def test_retries_give_up_with_a_connection_error(backend: RedisBackend) -> None:
    """More lost replies than retries: BackendConnectionError, and still one job."""
    app = Resque(backend)
    _lose_replies(backend, "push_once", lost=10)
    with pytest.raises(BackendConnectionError):
        app.enqueue("q", "Add", 1, 2, idempotency_key="k", retries=1)
    assert app.size("q") == 1


def test_retries_need_a_key_or_a_job_id(app: Resque) -> None:
    """A blind retry could enqueue twice: refused before anything is written."""
    with pytest.raises(ConfigurationError, match="idempotency_key or a job_id"):
        app.enqueue("q", "Add", 1, 2, retries=3)
    with pytest.raises(ConfigurationError, match="retries"):
        app.enqueue("q", "Add", 1, 2, idempotency_key="k", retries=-1)
    with pytest.raises(ConfigurationError, match="idempotency_key or a job_id"):
        app.enqueue_many(
            [EnqueueRequest("q", "Add", (1, 2), idempotency_key="k"), ("q", "Add", (3, 4))], retries=1
        )
    assert app.size("q") == 0


# -- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["", "a b", "a:b", "x" * 65, "é", "id\n", "../x", 42, b"abc"])
def test_unusable_job_ids_are_refused_with_a_clear_error(
    app: Resque, backend: RedisBackend, bad: Any
) -> None:
    """An id outside ``[A-Za-z0-9_.-]{1,64}`` is a ConfigurationError naming the rule; nothing written."""
    with pytest.raises(ConfigurationError, match=r"job_id must be 1 to 64 characters"):
        app.enqueue("q", "Add", 1, 2, job_id=bad)
    with pytest.raises(ConfigurationError, match=r"job_id must be"):
        app.enqueue_many([EnqueueRequest("q", "Add", (1, 2), job_id=bad)])
    assert _keys(backend) == set()


@pytest.mark.parametrize("bad", ["", "a b", "tab\there", "nl\n", "\x00", "k" * 201, 7])
def test_unusable_idempotency_keys_are_refused(app: Resque, backend: RedisBackend, bad: Any) -> None:
    """Keys are 1 to 200 printable characters without whitespace."""
    with pytest.raises(ConfigurationError, match="idempotency_key"):
        app.enqueue("q", "Add", 1, 2, idempotency_key=bad)
    assert _keys(backend) == set()


def test_accepted_ids_and_keys() -> None:
    """UUIDs, dotted and underscored ids; keys with colons, slashes and non-ASCII."""
    app = Resque("fakeredis://")
    for job_id in ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", "a", "A.b_c-1", "9" * 64):
        assert app.enqueue("q", "Add", job_id=job_id) == job_id
    for key in ("order:42/confirm", "é", "k" * 200):
        app.enqueue("q", "Add", idempotency_key=key)
    assert app.size("q") == 7


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "60"])
def test_an_unusable_ttl_is_refused_at_construction(bad: Any) -> None:
    """``idempotency_ttl`` is whole seconds >= 1."""
    with pytest.raises(ConfigurationError, match="idempotency_ttl"):
        Resque("fakeredis://", idempotency_ttl=bad)


# -- enqueue_many ------------------------------------------------------------------------------
def test_enqueue_many_with_keys_repeats_nothing_and_keeps_order(app: Resque) -> None:
    """Guarded and plain requests mix in one batch; a repeat of the batch pushes only
    the plain ones and returns the first ids for the guarded ones."""
    batch: list[EnqueueRequest | tuple[str, Any, tuple[int, int]]] = [
        EnqueueRequest("q", "Add", (1, 1), idempotency_key="one"),
        ("q", "Add", (2, 2)),
        EnqueueRequest("q", "Add", (3, 3), job_id="three"),
        EnqueueRequest("q", "Add", (4, 4), idempotency_key="four", track_status=True),
        ("q", "Add", (5, 5)),
    ]
    first = app.enqueue_many(batch)
    assert first[2] == "three"
    assert [job.args for job in app.peek("q", 0, -1)] == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]
    assert _ids(app) == first
    assert app.queues() == ["q"]
    assert app.tracked(first[3]).status is JobStatus.WAITING
    again = app.enqueue_many(batch)
    assert [again[i] for i in (0, 2, 3)] == [first[i] for i in (0, 2, 3)]
    assert again[1] != first[1] and again[4] != first[4]
    assert app.size("q") == 7


def test_enqueue_many_retries_a_lost_pipeline_reply_safely(backend: RedisBackend) -> None:
    """Every request guarded: the batch is resent after a lost reply, each job once,
    and ``after_enqueue`` runs once per job."""
    rec = Recorder()
    app = Resque(backend, plugins=[rec])
    _lose_replies(backend, "push_many", lost=1)
    batch = [EnqueueRequest("q", "Add", (i, i), idempotency_key=f"k{i}") for i in range(20)]
    ids = app.enqueue_many(batch, retries=2)
    assert _ids(app) == ids and len(set(ids)) == 20
    assert rec.after == ids


# -- the plain path -------------------------------------------------------------------------
def test_without_the_options_enqueue_is_unchanged(app: Resque, backend: RedisBackend) -> None:
    """No option: no marker written, a fresh id each time, a repeat pushes again
    (a regression guard for the plain path: same keys as before)."""
    a = app.enqueue("q", "Add", 1, 2)
    b = app.enqueue("q", "Add", 1, 2)
    assert a != b and _ids(app) == [a, b]
    assert _keys(backend) == {"resque:queues", "resque:queue:q"}


def test_without_the_options_enqueue_sends_the_same_command(redis_url: str) -> None:
    """The plain enqueue is still one EVALSHA of the unchanged ENQUEUE script with the
    same keys and arguments (a regression guard for the wire)."""

    class Recording(CountingConnection):
        commands: list[tuple[Any, ...]] = []

        def send_command(self, *args: Any, **kwargs: Any) -> None:
            type(self).commands.append(args)
            super().send_command(*args, **kwargs)  # type: ignore[no-untyped-call]

    pool = redis.ConnectionPool.from_url(redis_url, connection_class=Recording)
    app = Resque(RedisBackend(redis.Redis(connection_pool=pool)))
    app.enqueue("warm", "Add", 0, 0)
    Recording.commands.clear()
    Recording.sent = 0
    app.enqueue("q", "Add", 1, 2)
    (command,) = Recording.commands
    assert command[:5] == ("EVALSHA", ENQUEUE.sha, 2, "resque:queues", "resque:queue:q")
    assert command[5] == "q" and json.loads(command[6])["args"] == [1, 2] and len(command) == 7
    assert Recording.sent == 1
    app.close()
