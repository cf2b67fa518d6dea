"""The retry plugin on fakeredis: counters, immediate and delayed retries, giving up."""

from __future__ import annotations

import json
import math
import random
from types import SimpleNamespace
from typing import Any

import pytest

from pyresque import Resque
from pyresque.core.errors import ConfigurationError, DirtyExit
from pyresque.core.job import Job
from pyresque.core.worker.perform import perform_job
from pyresque.hooks.builtin.retry import RetryPlugin
from pyresque.hooks.builtin.retry_policy import RetryPolicy

RUNS: list[tuple[Any, ...]] = []


class Flaky:
    """Fails while its first argument says so; retried twice at once."""

    retry_limit = 2

    def perform(self, mode: str, *rest: Any) -> str:
        RUNS.append((mode, *rest))
        if mode == "fail":
            raise ConnectionError("flaky network")
        if mode == "fatal":
            raise PermissionError("never retry this")
        return "done"


class Later(Flaky):
    """Retried after a delay (through the delayed queue)."""

    retry_limit = 3
    retry_delay = 30
    fatal_exceptions = (PermissionError,)


class Plain:
    """Declares no retries."""

    def perform(self) -> None:
        raise ValueError("plain failure")


@pytest.fixture
def app() -> Resque:
    """A fakeredis app with a retry plugin on a fixed clock and a seeded RNG."""
    RUNS.clear()
    resque = Resque("fakeredis://", plugins=[RetryPlugin(rng=random.Random(3), clock=lambda: 1000.25)])
    for cls in (Flaky, Later, Plain):
        resque.job(cls, name=cls.__name__)
    return resque


def _worker(app: Resque) -> Any:
    return SimpleNamespace(app=app, id="host:1:q")


def _counter(app: Resque, job: Job) -> bytes | None:
    plugin = app.plugins.retry
    assert plugin is not None
    value: bytes | None = app.backend.client.get(plugin.attempt_key(app, job))  # type: ignore[attr-defined]
    return value


def _pop(app: Resque, queue: str = "q") -> Job | None:
    raw = app.backend.client.lpop(app.backend.keys.queue(queue))  # type: ignore[attr-defined]
    return None if raw is None else app.decode(raw, queue)


def test_immediate_retries_then_a_final_record_with_the_attempt_count(app: Resque) -> None:
    """Delay 0: the same payload is pushed back; after the limit, one record with attempts."""
    job = Job.new("q", "Flaky", ["fail", 1])
    original = app.encode(job)
    seen: list[Job] = []
    current: Job | None = job
    while current is not None:
        seen.append(current)
        outcome = perform_job(_worker(app), current)
        assert not outcome.ok and outcome.record is None  # handled by the plugin every time
        if len(seen) < 3:
            assert app.backend.client.lindex(app.backend.keys.queue("q"), 0) == original  # type: ignore[attr-defined]
        current = _pop(app)
    assert len(RUNS) == 3 and all(j.id == job.id for j in seen)
    failures = app.failures.all(0, 10)
    assert len(failures) == 1
    record = failures[0]
    assert record.exception == "ConnectionError" and record.error == "flaky network"
    assert record.extra == {"attempts": 3}
    assert record.payload["class"] == "Flaky" and record.payload["args"] == ["fail", 1]
    assert record.worker == "host:1:q" and record.queue == "q"
    assert _counter(app, job) is None


def test_attempt_counter_uses_resque_retry_key_and_values(app: Resque) -> None:
    """First run counts 0 under resque:resque-retry:<Class>:<sha1>; a success deletes it."""
    job = Job.new("q", "Flaky", ["ok", 1])
    app.plugins.before_perform(_worker(app), job)
    plugin = app.plugins.retry
    assert plugin is not None
    key = plugin.attempt_key(app, job)
    assert key.startswith("resque:resque-retry:Flaky:") and len(key.rsplit(":", 1)[1]) == 40
    assert _counter(app, job) == b"0"
    app.plugins.before_perform(_worker(app), job)
    assert _counter(app, job) == b"1"
    outcome = perform_job(_worker(app), job)
    assert outcome.ok and _counter(app, job) is None


def test_delayed_retry_is_a_resque_scheduler_item_due_after_the_delay(app: Resque) -> None:
    """Delay 30 at t=1000.25: item {"class","args","queue"} at ceil(1030.25) = 1031."""
    job = Job.new("q", "Later", ["fail", "a/b"])
    outcome = perform_job(_worker(app), job)
    assert not outcome.ok and outcome.record is None
    delayed = app.backend.delayed
    assert delayed.timestamps() == [1031]
    assert delayed.items_at(1031) == [b'{"class":"Later","args":["fail","a/b"],"queue":"q"}']
    assert app.size("q") == 0 and app.failures.count() == 0


def test_fatal_exception_gives_up_at_once_with_one_attempt(app: Resque) -> None:
    """A fatal exception is recorded on the first failure, with attempts 1, no retry."""
    job = Job.new("q", "Later", ["fatal"])
    perform_job(_worker(app), job)
    assert app.backend.delayed.count() == 0 and app.size("q") == 0
    (record,) = app.failures.all(0, 10)
    assert record.exception == "PermissionError" and record.extra == {"attempts": 1}


def test_jobs_without_a_policy_are_left_to_the_worker(app: Resque) -> None:
    """No policy: on_failure is not handled, the worker's own record stands."""
    outcome = perform_job(_worker(app), Job.new("q", "Plain"))
    assert not outcome.ok and outcome.record is not None and outcome.record.error == "plain failure"
    assert app.failures.count() == 0 and app.size("q") == 0


def test_dirty_exit_reported_by_the_parent_follows_the_same_policy(app: Resque) -> None:
    """A child killed mid-run: the parent's on_failure reads the child's count and retries."""
    job = Job.new("q", "Flaky", ["fail"])
    worker = _worker(app)
    app.plugins.before_perform(worker, job)  # what the child did before it died
    assert app.plugins.on_failure(worker, job, DirtyExit("killed by signal 9")) is True
    assert app.size("q") == 1
    for _ in range(2):
        app.plugins.before_perform(worker, job)
        app.plugins.on_failure(worker, job, DirtyExit("killed by signal 9"))
    (record,) = app.failures.all(0, 10)
    assert record.exception == "pyresque.DirtyExit" and record.extra == {"attempts": 3}


def test_app_default_policy_applies_to_classes_without_their_own() -> None:
    """RetryPlugin(default=...) retries every class that declares nothing."""
    RUNS.clear()
    app = Resque("fakeredis://", plugins=[RetryPlugin(default=RetryPolicy(limit=1, delay=0))])
    app.job(Plain, name="Plain")
    perform_job(_worker(app), Job.new("q", "Plain"))
    assert app.size("q") == 1 and app.failures.count() == 0


def test_app_policy_by_name_overrides_class_attributes() -> None:
    """policies={"Later": ...} wins over the class's own retry_delay."""
    app = Resque(
        "fakeredis://",
        plugins=[RetryPlugin(policies={"Later": RetryPolicy(limit=1, delay=0)}, clock=lambda: 0.0)],
    )
    app.job(Later, name="Later")
    perform_job(_worker(app), Job.new("q", "Later", ["fail"]))
    assert app.size("q") == 1 and app.backend.delayed.count() == 0


def test_exponential_jittered_schedule_is_exact_under_a_seeded_rng() -> None:
    """Delayed retries land at ceil(now + 10 * 2**n * uniform(0.5, 1.5)) from RNG(11)."""

    class Backoff:
        retry_limit = 4
        retry_delay = 10
        retry_exponential_backoff = True
        retry_delay_multiplicand_min = 0.5
        retry_delay_multiplicand_max = 1.5

        def perform(self) -> None:
            raise OSError("down")

    now = 5000.0
    app = Resque("fakeredis://", plugins=[RetryPlugin(rng=random.Random(11), clock=lambda: now)])
    app.job(Backoff, name="Backoff")
    worker, job = _worker(app), Job.new("q", "Backoff")
    for _ in range(4):
        perform_job(worker, job)
    reference = random.Random(11)
    expected = sorted({math.ceil(now + 10 * 2**n * reference.uniform(0.5, 1.5)) for n in range(4)})
    assert app.backend.delayed.timestamps() == expected
    assert app.backend.delayed.count() == 4


def test_retries_need_the_redis_backend() -> None:
    """A backend without Redis refuses with a clear ConfigurationError."""
    plugin = RetryPlugin(default=RetryPolicy(limit=1))
    fake_app: Any = SimpleNamespace(backend=object(), registry=SimpleNamespace(resolve=lambda n: Plain))
    with pytest.raises(ConfigurationError, match="Redis backend"):
        plugin.attempt_key(fake_app, Job.new("q", "Plain"))


def test_bad_plugin_configuration_is_refused() -> None:
    """A default or a policy that is not a RetryPolicy raises at once."""
    with pytest.raises(ConfigurationError):
        RetryPlugin(default=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        RetryPlugin(policies={"X": {"limit": 3}})  # type: ignore[dict-item]


def test_payload_json_of_final_record_has_attempts_after_ruby_fields(app: Resque) -> None:
    """The stored JSON keeps Ruby's field order and appends "attempts"."""
    perform_job(_worker(app), Job.new("q", "Later", ["fatal"]))
    raw = app.backend.client.lindex(app.backend.keys.failed, 0)  # type: ignore[attr-defined]
    data = json.loads(raw)
    assert list(data) == [
        "failed_at",
        "payload",
        "exception",
        "error",
        "backtrace",
        "worker",
        "queue",
        "attempts",
    ]


def test_delayed_retry_keeps_the_last_failure_for_resque_web(app: Resque) -> None:
    """failure-resque-retry:<Class>:<sha1> holds the failure for 2*delay, gone on giving up."""
    from pyresque.hooks.builtin.retry_policy import retry_identifier

    job = Job.new("q", "Later", ["fail"])
    perform_job(_worker(app), job)
    client = app.backend.client  # type: ignore[attr-defined]
    key = f"resque:failure-resque-retry:Later:{retry_identifier(['fail'])}"
    data = json.loads(client.get(key))
    assert list(data) == ["failed_at", "payload", "exception", "error", "backtrace", "worker", "queue"]
    assert data["exception"] == "ConnectionError" and not data["failed_at"].endswith("UTC")
    assert 0 < client.ttl(key) <= 60
    for _ in range(3):
        perform_job(_worker(app), job)
    assert client.exists(key) == 0 and app.failures.count() == 1


def test_unknown_job_classes_are_not_retried_by_the_default_policy() -> None:
    """A class the app cannot resolve fails at once; a policy set for its name still applies."""
    app = Resque("fakeredis://", plugins=[RetryPlugin(default=RetryPolicy(limit=3))])
    outcome = perform_job(_worker(app), Job.new("q", "Nowhere::Job"))
    assert outcome.record is not None and outcome.record.exception == "pyresque.UnknownJobClass"
    assert app.size("q") == 0
    named = Resque("fakeredis://", plugins=[RetryPlugin(policies={"Nowhere::Job": RetryPolicy(limit=1)})])
    assert perform_job(_worker(named), Job.new("q", "Nowhere::Job")).record is None
    assert named.size("q") == 1


def test_a_requeued_final_failure_starts_a_new_retry_cycle(app: Resque) -> None:
    """After giving up, requeueing the record runs the job with a fresh attempt count."""
    job = Job.new("q", "Flaky", ["fail", 9])
    for _ in range(3):
        perform_job(_worker(app), job)
    assert app.failures.count() == 1 and _counter(app, job) is None
    app.dequeue("q")  # the earlier retries of the same payload, not run here
    app.failures.requeue(0)
    again = _pop(app)
    assert again is not None
    outcome = perform_job(_worker(app), again)
    assert outcome.record is None and _counter(app, again) == b"0" and app.size("q") == 1
