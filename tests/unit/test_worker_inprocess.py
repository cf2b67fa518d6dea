"""The worker in-process on fakeredis: job semantics, bad input, hooks, bookkeeping."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyresque import ConfigurationError, DontPerform, Resque, hookimpl
from pyresque.core.worker import Worker
from pyresque.core.worker.queue_select import QueueSelector
from pyresque.serializers.msgpack import MsgpackSerializer
from tests import worker_jobs


@pytest.fixture
def trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A trace file jobs append to."""
    path = tmp_path / "trace.txt"
    monkeypatch.setenv(worker_jobs.TRACE_ENV, str(path))
    return path


@pytest.fixture
def wapp() -> Iterator[Resque]:
    """A fakeredis app with the worker job fixtures registered."""
    app = Resque("fakeredis://")
    worker_jobs.register(app)
    yield app
    app.close()


def drain(app: Resque, queues: str = "q", **options: Any) -> Worker:
    """Run an in-process burst worker until the queues are empty."""
    worker = Worker(app, queues, mode="inprocess", burst=True, heartbeat_interval=0, **options)
    worker.work()
    return worker


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def only_failure(app: Resque) -> dict[str, Any]:
    assert app.failures.count() == 1
    raw = app.backend.client.lindex(app.backend.keys.failed, 0)  # type: ignore[attr-defined]
    data: dict[str, Any] = json.loads(raw)
    return data


def test_class_job_runs_set_up_perform_tear_down_with_self_args(wapp: Resque, trace: Path) -> None:
    """set_up, perform (self.args available) and tear_down run in order."""
    wapp.enqueue("q", "WithHooks", 1, "two")
    drain(wapp)
    assert lines(trace) == ["set_up", "perform [1, 'two']", "tear_down"]
    assert wapp.failures.count() == 0


def test_camel_case_set_up_and_tear_down_are_accepted(wapp: Resque, trace: Path) -> None:
    """php-resque's setUp/tearDown names work too."""
    wapp.enqueue("q", "CamelHooks")
    drain(wapp)
    assert lines(trace) == ["setUp", "perform", "tearDown"]


def test_success_counts_processed_and_completes_tracked_status(wapp: Resque) -> None:
    """Processed stats go up globally and per worker; a tracked job ends COMPLETE with its result."""
    job_id = wapp.enqueue("q", "Add", 2, 3, track_status=True)
    wapp.enqueue("q", "noop")
    drain(wapp)
    assert wapp.backend.stats.get("processed") == 2
    assert wapp.backend.stats.get("failed") == 0
    status = wapp.tracked(job_id).get()
    assert status is not None and int(status.status) == 4 and status.result == 5


@pytest.mark.parametrize(
    ("job", "args", "exception", "error_part"),
    [
        ("boom", [], "RuntimeError", "boom é/x"),
        ("FailSetUp", [], "ValueError", "set_up broke"),
        ("FailTearDown", [], "ValueError", "tear_down broke"),
        ("exits", [3], "SystemExit", "3"),
        ("interrupts", [], "KeyboardInterrupt", "job said stop"),
        ("Add", [1], "TypeError", "missing 1 required positional argument"),
        ("NoSuchJob", [], "pyresque.UnknownJobClass", "NoSuchJob"),
    ],
)
def test_job_failures_become_readable_records(
    wapp: Resque, job: str, args: list[Any], exception: str, error_part: str
) -> None:
    """Each way a job can fail ends as one Ruby-format record; the worker keeps working."""
    wapp.enqueue("q", job, *args)
    wapp.enqueue("q", "noop")
    worker = drain(wapp)
    record = only_failure(wapp)
    assert list(record) == ["failed_at", "payload", "exception", "error", "backtrace", "worker", "queue"]
    assert record["exception"] == exception
    assert error_part in record["error"]
    assert record["payload"]["class"] == job and record["payload"]["args"] == args
    assert record["worker"] == worker.id and record["queue"] == "q"
    assert wapp.backend.stats.get("failed") == 1
    assert wapp.backend.stats.get("processed") == 2
    assert wapp.size("q") == 0


@pytest.mark.parametrize(
    ("raw", "exception"),
    [
        (b"{not json", "pyresque.DecodeError"),
        (b"[1,2,3]", "pyresque.InvalidJobError"),
        (b'{"args":[1]}', "pyresque.InvalidJobError"),
        (b'{"class":"Add","args":{"a":1}}', "pyresque.InvalidJobError"),
    ],
)
def test_bad_payloads_are_failed_with_the_raw_payload_kept(wapp: Resque, raw: bytes, exception: str) -> None:
    """Malformed JSON, a non-object, a missing class, non-list args: a record with the raw bytes."""
    wapp.backend.broker.push("q", raw)
    wapp.enqueue("q", "noop")
    drain(wapp)
    record = only_failure(wapp)
    assert record["exception"] == exception
    assert record["payload"] == {"class": None, "raw": raw.decode()}
    assert wapp.backend.stats.get("processed") == 2


def test_undecodable_binary_payload_is_kept_as_hex(wapp: Resque) -> None:
    """Bytes that are not UTF-8 are kept whole (hex) in the failure record."""
    raw = b"\xff\xfe\x00garbage"
    wapp.backend.broker.push("q", raw)
    drain(wapp)
    record = only_failure(wapp)
    assert bytes.fromhex(record["payload"]["raw_hex"]) == raw


def test_msgpack_payload_runs_on_a_json_app(wapp: Resque, trace: Path) -> None:
    """A payload in the other serializer's format is recognised and performed."""
    data = MsgpackSerializer().dumps({"class": "record", "args": ["from msgpack"]})
    wapp.backend.broker.push("q", data)
    drain(wapp)
    assert lines(trace) == ["from msgpack"]
    assert wapp.failures.count() == 0


def test_dont_perform_in_set_up_skips_without_failure(wapp: Resque, trace: Path) -> None:
    """set_up raising DontPerform skips the job: processed, not failed."""
    wapp.enqueue("q", "SkipInSetUp")
    drain(wapp)
    assert lines(trace) == []
    assert wapp.failures.count() == 0
    assert wapp.backend.stats.get("processed") == 1


def test_in_process_timeout_fails_the_job_and_the_worker_goes_on(wapp: Resque, trace: Path) -> None:
    """A job past its own timeout is stopped by an alarm and recorded as a timeout."""
    wapp.enqueue("q", "Quick")
    wapp.enqueue("q", "record", "after")
    drain(wapp)
    record = only_failure(wapp)
    assert record["exception"] == "pyresque.JobTimeoutError"
    assert lines(trace) == ["after"]


def test_worker_default_timeout_applies_to_jobs_without_their_own(wapp: Resque) -> None:
    """The worker's default timeout stops a plain job."""
    wapp.enqueue("q", "sleeper", 5)
    drain(wapp, timeout=0.3)
    assert only_failure(wapp)["exception"] == "pyresque.JobTimeoutError"


class Recorder:
    """A plugin that records every worker hook call."""

    def __init__(self, handled: bool = False, skip: bool = False) -> None:
        self.calls: list[str] = []
        self.handled = handled
        self.skip = skip

    @hookimpl
    def pyresque_before_first_fork(self, worker: Worker) -> None:
        self.calls.append("before_first_fork")

    @hookimpl
    def pyresque_before_fork(self, worker: Worker, job: Any) -> None:
        self.calls.append(f"before_fork {job.class_name}")

    @hookimpl
    def pyresque_before_perform(self, worker: Worker, job: Any) -> None:
        self.calls.append(f"before_perform {job.class_name}")
        if self.skip:
            raise DontPerform("skip")

    @hookimpl
    def pyresque_after_perform(self, worker: Worker, job: Any, result: Any) -> None:
        self.calls.append(f"after_perform {job.class_name} {result}")

    @hookimpl
    def pyresque_on_failure(self, worker: Worker, job: Any, exception: BaseException) -> bool:
        self.calls.append(f"on_failure {job.class_name} {type(exception).__name__}")
        return self.handled

    @hookimpl
    def pyresque_worker_exit(self, worker: Worker) -> None:
        self.calls.append("worker_exit")


def test_hooks_fire_in_order_with_the_worker_and_job(wapp: Resque) -> None:
    """before_first_fork, before_fork, before_perform, after_perform, on_failure, worker_exit."""
    plugin = Recorder()
    wapp.hooks.register(plugin)
    wapp.enqueue("q", "Add", 1, 2)
    wapp.enqueue("q", "boom")
    drain(wapp)
    assert plugin.calls == [
        "before_first_fork",
        "before_fork Add",
        "before_perform Add",
        "after_perform Add 3",
        "before_fork boom",
        "before_perform boom",
        "on_failure boom RuntimeError",
        "worker_exit",
    ]


def test_on_failure_returning_true_counts_failed_but_writes_no_record(wapp: Resque) -> None:
    """A failure handled by a plugin (retry) is counted, not recorded."""
    wapp.hooks.register(Recorder(handled=True))
    wapp.enqueue("q", "boom")
    drain(wapp)
    assert wapp.failures.count() == 0
    assert wapp.backend.stats.get("failed") == 1


def test_before_perform_dont_perform_skips_the_job(wapp: Resque, trace: Path) -> None:
    """DontPerform from before_perform: not run, not failed, processed."""
    wapp.hooks.register(Recorder(skip=True))
    wapp.enqueue("q", "record", "x")
    drain(wapp)
    assert lines(trace) == [] and wapp.failures.count() == 0
    assert wapp.backend.stats.get("processed") == 1


def test_queues_are_taken_in_priority_order(wapp: Resque, trace: Path) -> None:
    """A job in an earlier queue always runs before one in a later queue."""
    wapp.enqueue("low", "record", "low1")
    wapp.enqueue("high", "record", "high1")
    wapp.enqueue("low", "record", "low2")
    wapp.enqueue("high", "record", "high2")
    drain(wapp, "high,low")
    assert lines(trace) == ["high1", "high2", "low1", "low2"]


def test_star_and_exclusion_patterns_select_queues(wapp: Resque, trace: Path) -> None:
    """'*' takes every queue alphabetically; '!name' leaves one out."""
    for q in ("b", "a", "skip"):
        wapp.enqueue(q, "record", q)
    drain(wapp, "*,!skip")
    assert lines(trace) == ["a", "b"]
    assert wapp.size("skip") == 1


def test_queue_selector_expands_globs_in_place() -> None:
    """Globs expand alphabetically where they stand; duplicates are dropped."""
    sel = QueueSelector(["urgent", "mail_*", "*", "!tmp*"])
    assert sel.resolve(["tmp1", "mail_b", "mail_a", "urgent", "z"]) == ["urgent", "mail_a", "mail_b", "z"]
    assert not QueueSelector(["a", "b"]).dynamic


def test_unregister_leaves_no_worker_keys(wapp: Resque) -> None:
    """After a burst, the worker's set entry, started, heartbeat and stats are gone."""
    wapp.enqueue("q", "noop")
    worker = drain(wapp)
    client = wapp.backend.client  # type: ignore[attr-defined]
    leftovers = [k for k in client.keys("*") if worker.id.encode() in k]
    assert leftovers == []
    assert wapp.backend.workers.all() == []
    assert worker.id not in wapp.backend.workers.heartbeats()


def test_forking_modes_are_refused_on_fakeredis(wapp: Resque) -> None:
    """A fakeredis app cannot fork meaningfully: a clear error."""
    with pytest.raises(ConfigurationError, match="inprocess"):
        Worker(wapp, "q", mode="fork")


def test_worker_id_is_host_pid_queues(wapp: Resque) -> None:
    """The id is host:pid:queues as configured (patterns kept)."""
    worker = Worker(wapp, "high,*", mode="inprocess")
    host, pid, queues = worker.id.split(":", 2)
    assert pid.isdigit() and queues == "high,*" and host


@pytest.mark.parametrize(("job", "args", "status"), [("Add", [2, 3], 4), ("boom", [], 3)])
def test_status_bytes_match_the_status_store(wapp: Resque, job: str, args: list[Any], status: int) -> None:
    """The worker's scripts write exactly what StatusStore.update writes for the same job."""
    from pyresque.core.status import JobStatus

    client = wapp.backend.client  # type: ignore[attr-defined]
    job_id = wapp.enqueue("q", job, *args, track_status=True)
    key = wapp.backend.keys.status(job_id)  # type: ignore[attr-defined]
    initial = client.get(key)
    drain(wapp)
    ours = client.get(key)
    client.set(key, initial)
    wapp.backend.statuses.update(job_id, JobStatus(status), 5 if status == 4 else None)
    expected = client.get(key)
    assert json.loads(ours)["updated"] - json.loads(expected)["updated"] in (0, -1, 1)
    strip = lambda raw: {k: v for k, v in json.loads(raw).items() if k != "updated"}  # noqa: E731
    assert strip(ours) == strip(expected)
    assert list(json.loads(ours)) == list(json.loads(expected))
    assert client.ttl(key) > 86000


def test_worker_record_while_running_has_ruby_fields_then_worker(wapp: Resque) -> None:
    """worker:<id> holds {"queue","run_at","payload","worker","reservation"} while the job runs
    (Ruby's fields first; the reservation token last, where the scripts look for it)."""
    seen: list[bytes] = []

    class Peek:
        def perform(self) -> None:
            seen.append(client.get(wapp.backend.keys.worker(worker.id)))  # type: ignore[attr-defined]

    client = wapp.backend.client  # type: ignore[attr-defined]
    wapp.job(Peek, name="Peek")
    wapp.enqueue("q", "Peek")
    worker = Worker(wapp, "q", mode="inprocess", burst=True, heartbeat_interval=0)
    worker.work()
    record = json.loads(seen[0])
    assert list(record) == ["queue", "run_at", "payload", "worker", "reservation"]
    assert record["worker"] == f"{worker.hostname}:{worker.pid}" and record["payload"]["class"] == "Peek"
    assert re.fullmatch("[0-9a-f]{16}", record["reservation"])


def test_signal_handlers_and_wakeup_fd_are_restored_after_work(wapp: Resque) -> None:
    """A worker run in-process (tests, embedding) leaves the process's signal setup as it found it."""
    import signal

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)}
    wapp.enqueue("q", "noop")
    drain(wapp)
    assert {sig: signal.getsignal(sig) for sig in before} == before
    assert signal.set_wakeup_fd(-1) == -1


def test_process_title_is_restored_after_work(wapp: Resque) -> None:
    """The worker sets Resque's titles while it runs and puts the caller's back after."""
    from setproctitle import getproctitle, setproctitle

    seen: list[str] = []
    wapp.job(lambda: seen.append(getproctitle()), name="Title")
    wapp.enqueue("q", "Title")
    original = getproctitle()
    setproctitle("my-service: serving")
    try:
        Worker(wapp, "q", mode="inprocess", burst=True, heartbeat_interval=0).work()
        assert seen and seen[0].startswith("resque-") and "Processing q" in seen[0]
        assert getproctitle() == "my-service: serving"
    finally:
        setproctitle(original)
