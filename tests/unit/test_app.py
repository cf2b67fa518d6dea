"""The app: configuration per app, enqueue semantics, errors before writes."""

from __future__ import annotations

import pytest

from pyresque import (
    BackendConnectionError,
    DontEnqueue,
    EncodeError,
    EnqueueRequest,
    InvalidQueueName,
    Job,
    JobNotRegistered,
    Resque,
    UnknownBackendError,
    hookimpl,
)
from tests import jobs


def test_two_apps_with_different_backends_and_namespaces_do_not_mix() -> None:
    """Apps keep their own backend, namespace, registry and plugins."""
    a = Resque("fakeredis://shared-x", namespace="app_a")
    b = Resque("fakeredis://shared-x", namespace="app_b")
    a.job(jobs.Add, name="Add")
    a.enqueue("q", "Add", 1, 2)
    assert a.size("q") == 1 and b.size("q") == 0
    assert a.backend.client.exists("app_a:queue:q") and not a.backend.client.exists("resque:queue:q")
    with pytest.raises(JobNotRegistered):
        b.enqueue("q", jobs.Add, 1, 2)


def test_enqueue_accepts_registered_callables_and_foreign_names(fake_app: Resque) -> None:
    """A registered class enqueues under its name; a string is taken as-is."""
    fake_app.enqueue("q", jobs.Add, 1, 2)
    fake_app.enqueue("q", "Foo::Bar", "x")
    assert [j.class_name for j in fake_app.peek("q", 0, 2)] == ["Add", "Foo::Bar"]


def test_unserializable_args_raise_before_anything_is_written(fake_app: Resque) -> None:
    """EncodeError, and the queue is neither created nor filled."""
    with pytest.raises(EncodeError):
        fake_app.enqueue("q", "Add", {1, 2})
    with pytest.raises(EncodeError):
        fake_app.enqueue_many([("q", "Add", [1]), ("q", "Add", [object()])])
    assert fake_app.queues() == [] and fake_app.size("q") == 0


@pytest.mark.parametrize("queue", ["", " ", "a,b"])
def test_bad_queue_names_raise_before_anything_is_written(fake_app: Resque, queue: str) -> None:
    """InvalidQueueName names the problem; nothing is written."""
    with pytest.raises(InvalidQueueName):
        fake_app.enqueue(queue, "Add", 1)
    assert fake_app.queues() == []


def test_unknown_backend_scheme_is_a_configuration_error() -> None:
    """Resque('amqp://...') raises UnknownBackendError at construction."""
    with pytest.raises(UnknownBackendError, match="amqp"):
        Resque("amqp://guest@localhost")


def test_unreachable_redis_names_the_server_not_the_password() -> None:
    """A refused connection raises BackendConnectionError with host and port, no secret."""
    app = Resque("redis://user:hunter2@127.0.0.1:1/0")
    with pytest.raises(BackendConnectionError) as info:
        app.enqueue("q", "Add", 1)
    message = str(info.value)
    assert "127.0.0.1:1" in message and "hunter2" not in message
    with pytest.raises(BackendConnectionError):
        app.info()


def test_before_enqueue_veto_writes_nothing_and_tells_the_caller(fake_app: Resque) -> None:
    """A plugin raising DontEnqueue stops the write; the caller gets DontEnqueue."""
    seen: list[str] = []

    class Veto:
        @hookimpl
        def pyresque_before_enqueue(self, job: Job) -> None:
            if job.args and job.args[0] == "no":
                raise DontEnqueue("refused")

        @hookimpl
        def pyresque_after_enqueue(self, job: Job) -> None:
            seen.append(str(job.id))

    fake_app.plugins.register(Veto())
    with pytest.raises(DontEnqueue):
        fake_app.enqueue("q", "Echo", "no")
    job_id = fake_app.enqueue("q", "Echo", "yes")
    assert fake_app.size("q") == 1 and seen == [job_id]
    with pytest.raises(DontEnqueue):
        fake_app.enqueue_many([("q", "Echo", ["yes"]), ("q", "Echo", ["no"])])
    assert fake_app.size("q") == 1


def test_enqueue_many_returns_ids_in_order_and_tracks_on_request(fake_app: Resque) -> None:
    """Bulk enqueue keeps order, returns ids, and creates statuses only when asked."""
    ids = fake_app.enqueue_many(
        [EnqueueRequest("q", "Add", [1, 2], track_status=True), ("q", "Add", [3, 4]), ("r", "Echo", [])]
    )
    assert [j.id for j in fake_app.peek("q", 0, 2)] == ids[:2]
    assert fake_app.tracked(ids[0]).get() is not None and fake_app.tracked(ids[1]).get() is None


def test_msgpack_app_and_json_app_read_each_others_payloads() -> None:
    """A msgpack app's jobs decode in a JSON app and vice versa."""
    mp = Resque("fakeredis://mixed", serializer="msgpack")
    js = Resque("fakeredis://mixed")
    mp.enqueue("q", "Add", 1, "é")
    js.enqueue("q", "Add", 2, "ü")
    assert [j.args for j in js.peek("q", 0, 2)] == [(1, "é"), (2, "ü")]
    assert [j.args for j in mp.peek("q", 0, 2)] == [(1, "é"), (2, "ü")]
