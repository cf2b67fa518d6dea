"""The Ruby payload form: ``{"class","args"}`` only, so that Ruby's
``Resque.dequeue(Klass, *args)`` (an ``LREM`` of those exact bytes) removes the job."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pyresque import ConfigurationError, EnqueueRequest, Resque
from pyresque.core.worker import Worker

RUBY_BYTES = b'{"class":"X","args":[1,"a"]}'


@pytest.fixture
def app() -> Iterator[Resque]:
    """A fakeredis app writing the full form (the default)."""
    a = Resque("fakeredis://")
    yield a
    a.close()


@pytest.fixture
def ruby_app() -> Iterator[Resque]:
    """A fakeredis app writing the Ruby form by default."""
    a = Resque("fakeredis://", payload_form="ruby")
    yield a
    a.close()


def ruby_dequeue(app: Resque, queue: str, payload: bytes) -> int:
    """What Ruby's ``Resque::Job.destroy(queue, klass, *args)`` does: LREM the bytes."""
    client: Any = app.backend.client  # type: ignore[attr-defined]
    removed: int = client.lrem(app.backend.keys.queue(queue), 0, payload)  # type: ignore[attr-defined]
    return removed


def test_ruby_dequeue_removes_a_ruby_form_job(ruby_app: Resque, app: Resque) -> None:
    """Ruby's dequeue by arguments removes the Ruby form, never the full form."""
    ruby_app.enqueue("q", "X", 1, "a")
    assert ruby_dequeue(ruby_app, "q", RUBY_BYTES) == 1
    assert ruby_app.size("q") == 0
    app.enqueue("q", "X", 1, "a")
    assert ruby_dequeue(app, "q", RUBY_BYTES) == 0
    app.enqueue("q", "X", 1, "a", payload_form="ruby")
    assert ruby_dequeue(app, "q", RUBY_BYTES) == 1
    assert app.size("q") == 1  # the full-form job is still there


def test_ruby_form_enqueue_returns_the_empty_string(ruby_app: Resque, app: Resque) -> None:
    """A Ruby-form job has no id: enqueue returns ``""`` (never a valid id)."""
    assert ruby_app.enqueue("q", "X") == ""
    assert app.enqueue("q", "X", payload_form="ruby") == ""
    assert len(app.enqueue("q", "X", payload_form="full")) == 32
    assert len(ruby_app.enqueue("q", "X", payload_form="full")) == 32


@pytest.mark.parametrize(
    "options",
    [
        {"track_status": True},
        {"job_id": "abc"},
        {"idempotency_key": "k"},
        {"retries": 2},
        {"retries": 2, "job_id": "abc"},
    ],
)
def test_ruby_form_refuses_what_needs_an_id(app: Resque, ruby_app: Resque, options: dict[str, Any]) -> None:
    """Tracking, ids, idempotency keys and retries need an id: refused, nothing written."""
    with pytest.raises(ConfigurationError, match="ruby"):
        app.enqueue("q", "X", payload_form="ruby", **options)
    with pytest.raises(ConfigurationError, match="ruby"):
        ruby_app.enqueue("q", "X", **options)
    assert app.size("q") == 0 and ruby_app.size("q") == 0
    if options != {"retries": 2}:  # (retries alone needs a key in the full form too)
        ruby_app.enqueue("q", "X", payload_form="full", **options)  # the full form takes them
        assert ruby_app.size("q") == 1


def test_enqueue_many_uses_the_app_form(ruby_app: Resque) -> None:
    """enqueue_many writes the app's form, and refuses tracking with the Ruby form."""
    assert ruby_app.enqueue_many([("q", "X", (1, "a")), ("q", "X", (2,))]) == ["", ""]
    assert ruby_app.backend.broker.peek("q", 0, 2) == [RUBY_BYTES, b'{"class":"X","args":[2]}']
    with pytest.raises(ConfigurationError, match="track_status"):
        ruby_app.enqueue_many([EnqueueRequest("q", "X", (), track_status=True)])
    assert ruby_app.size("q") == 2


@pytest.mark.parametrize("form", ["Ruby", "php", "", None, 1])
def test_unknown_form_is_refused(app: Resque, form: Any) -> None:
    """Only "full" and "ruby" exist (None per call means the app's form)."""
    if form is not None:
        with pytest.raises(ConfigurationError, match="payload_form"):
            Resque("fakeredis://", payload_form=form)
        with pytest.raises(ConfigurationError, match="payload_form"):
            app.enqueue("q", "X", payload_form=form)
        assert app.size("q") == 0
    else:
        app.enqueue("q", "X", payload_form=form)
        assert app.size("q") == 1


def test_a_worker_runs_ruby_form_jobs(ruby_app: Resque) -> None:
    """A job without id (as every Ruby-enqueued job) is run and counted, never failed."""
    seen: list[tuple[Any, ...]] = []

    @ruby_app.job(name="X")
    def x(*args: Any) -> None:
        seen.append(args)

    ruby_app.enqueue("q", x, 1, "a")
    ruby_app.enqueue("q", "X", 2)
    assert ruby_app.backend.broker.peek("q")[0] == RUBY_BYTES
    Worker(ruby_app, "q", mode="inprocess", burst=True, heartbeat_interval=0).work()
    assert seen == [(1, "a"), (2,)]
    assert ruby_app.failures.count() == 0
    assert ruby_app.size("q") == 0
    assert ruby_app.backend.stats.get("processed") == 2


def test_app_dequeue_removes_ruby_form_jobs(ruby_app: Resque) -> None:
    """pyresque's own dequeue by arguments removes Ruby-form jobs too."""
    ruby_app.enqueue("q", "X", 1, "a")
    ruby_app.enqueue("q", "X", 2)
    assert ruby_app.dequeue("q", "X", 1, "a") == 1
    assert ruby_app.backend.broker.peek("q") == [b'{"class":"X","args":[2]}']


def test_build_job_follows_the_form(ruby_app: Resque, app: Resque) -> None:
    """build_job gives an id-less job for the Ruby form, and refuses a job_id with it."""
    built = ruby_app.build_job("q", "X", (1,))
    assert built.id is None and dict(built.extra) == {}
    assert app.build_job("q", "X", (1,), payload_form="ruby").id is None
    assert app.build_job("q", "X", (1,)).id is not None
    with pytest.raises(ConfigurationError):
        ruby_app.build_job("q", "X", (), job_id="abc")
