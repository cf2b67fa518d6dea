"""The operator CLI: info, queues, workers, enqueue, dequeue, backend options (on a shared fakeredis)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from pyresque import Resque
from pyresque.cli import main
from tests.unit.cli_support import (
    RUBY_WORKER,
    add_ruby_worker,
    fail_job,
    run,
    run_json,
)


@pytest.fixture
def url() -> str:
    """A fakeredis server shared by name between the test's app and the CLI."""
    return f"fakeredis://cli-{uuid.uuid4().hex}"


@pytest.fixture
def app(url: str) -> Iterator[Resque]:
    """The app the test prepares data with (same server as the CLI's)."""
    resque = Resque(url)
    yield resque
    resque.close()


def test_enqueue_writes_job_with_json_args(url: str, app: Resque) -> None:
    """`enqueue QUEUE CLASS ARGS` pushes a payload with those exact args and prints the id."""
    result = run(url, "enqueue", "mail", "Mailer::Welcome", '[42, "fr/é", {"a": null}]')
    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    (job,) = app.peek("mail")
    assert (job.class_name, list(job.args), job.id) == ("Mailer::Welcome", [42, "fr/é", {"a": None}], job_id)


def test_enqueue_without_args_and_with_json_output(url: str, app: Resque) -> None:
    """No ARGS-JSON means no arguments; --json reports id, queue, class and args."""
    data = run_json(url, "enqueue", "q", "Ping")
    assert data["args"] == [] and data["class"] == "Ping" and data["queue"] == "q"
    assert [j.id for j in app.peek("q")] == [data["id"]]


@pytest.mark.parametrize(
    ("text", "message"),
    [("{bad", "not valid JSON"), ('{"a": 1}', "must be a JSON array"), ("3", "JSON array")],
)
def test_enqueue_rejects_bad_args_and_writes_nothing(url: str, app: Resque, text: str, message: str) -> None:
    """Args that are not a JSON array are refused with a clear message; nothing is queued."""
    result = run(url, "enqueue", "q", "Ping", text)
    assert result.exit_code == 2
    assert message in result.stderr
    assert app.queues() == []


def test_enqueue_rejects_invalid_queue_name(url: str, app: Resque) -> None:
    """A queue name Resque cannot carry is an error, not a silent write."""
    result = run(url, "enqueue", "a,b", "Ping")
    assert result.exit_code == 1
    assert "queue name" in result.stderr
    assert app.queues() == []


def test_enqueue_track_creates_waiting_status(url: str, app: Resque) -> None:
    """--track writes php-resque's WAITING status for the job."""
    job_id = run_json(url, "enqueue", "q", "Ping", "--track")["id"]
    assert app.tracked(job_id).status is not None
    assert int(app.tracked(job_id).status) == 1  # type: ignore[arg-type]


def test_queues_lists_sizes(url: str, app: Resque) -> None:
    """`queues` shows each queue and its size, as a table and as JSON."""
    app.enqueue("high", "A")
    app.enqueue("high", "A")
    app.enqueue("low", "B")
    assert run_json(url, "queues") == [{"name": "high", "size": 2}, {"name": "low", "size": 1}]
    table = run(url, "queues").stdout.splitlines()
    assert table[0].split() == ["QUEUE", "SIZE"]
    assert table[1].split() == ["high", "2"] and table[2].split() == ["low", "1"]


def test_info_reports_counts_queues_and_workers(url: str, app: Resque) -> None:
    """`info` gives pending, processed, failed, queue sizes and what each worker works on."""
    app.enqueue("high", "A", 1)
    fail_job(app, "high", "A", [2])
    app.backend.stats.incr("processed", 5)
    add_ruby_worker(app)
    data = run_json(url, "info")
    assert (data["pending"], data["processed"], data["failed"]) == (1, 5, 1)
    assert data["queues"] == {"high": 1}
    assert (data["workers"], data["working"]) == (1, 1)
    (worker,) = data["worker_list"]
    assert worker["id"] == RUBY_WORKER
    assert (worker["class"], worker["args"], worker["queue"]) == ("Foo::Bar", [1, "a/b"], "high")
    text = run(url, "info").stdout
    assert "pending    1" in text and "failed     1" in text and "Foo::Bar" in text


def test_workers_shows_idle_and_busy_workers(url: str, app: Resque) -> None:
    """`workers` parses host, pid and queues from the id and reports state and heartbeat."""
    add_ruby_worker(app, busy=False)
    (row,) = run_json(url, "workers")
    assert (row["host"], row["pid"], row["queues"], row["state"]) == ("web1", 4242, ["high", "low"], "idle")
    assert row["heartbeat"] == "2026-11-23T17:23:27+00:00"
    add_ruby_worker(app, busy=True)
    (row,) = run_json(url, "workers")
    assert row["state"] == "working" and row["run_at"] == "2026-11-23T17:23:27Z"
    assert RUBY_WORKER in run(url, "workers").stdout


def test_empty_backend_prints_placeholders(url: str) -> None:
    """With nothing in Redis the tables say so instead of printing nothing."""
    assert run(url, "queues").stdout.strip() == "no queues"
    assert run(url, "workers").stdout.strip() == "no workers"
    assert run(url, "failed", "list").stdout.strip() == "no failed jobs"


def test_dequeue_by_class_and_args(url: str, app: Resque) -> None:
    """`dequeue Q CLASS ARGS` removes exactly matching jobs; CLASS alone all of that class."""
    app.enqueue("q", "A", 1)
    app.enqueue("q", "A", 2)
    app.enqueue("q", "B", 1)
    assert run_json(url, "dequeue", "q", "A", "[1]") == {"queue": "q", "removed": 1}
    assert [(j.class_name, list(j.args)) for j in app.peek("q", 0, 10)] == [("A", [2]), ("B", [1])]
    assert run_json(url, "dequeue", "q", "B") == {"queue": "q", "removed": 1}
    assert app.size("q") == 1


def test_dequeue_by_id(url: str, app: Resque) -> None:
    """`dequeue Q CLASS --id ID` removes only that job."""
    keep = app.enqueue("q", "A", 1)
    drop = app.enqueue("q", "A", 1)
    assert run_json(url, "dequeue", "q", "A", "--id", drop) == {"queue": "q", "removed": 1}
    assert [j.id for j in app.peek("q", 0, 10)] == [keep]


def test_dequeue_whole_queue_needs_confirmation(url: str, app: Resque) -> None:
    """`dequeue Q` empties the queue only once confirmed."""
    app.enqueue("q", "A", 1)
    app.enqueue("q", "B", 2)
    assert run(url, "dequeue", "q", input="n\n").exit_code == 1
    assert app.size("q") == 2
    assert run_json(url, "dequeue", "q", "-y") == {"queue": "q", "removed": 2}
    assert app.size("q") == 0


def test_backend_from_environment_and_namespace_option(url: str) -> None:
    """REDIS_BACKEND picks the server and --namespace the key prefix."""
    other = Resque(url, namespace="shop")
    try:
        other.enqueue("orders", "Ship")
        result = CliRunner().invoke(
            main, ["queues", "--json", "--namespace", "shop"], env={"REDIS_BACKEND": url}
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == [{"name": "orders", "size": 1}]
        default_ns = CliRunner().invoke(main, ["queues", "--json"], env={"REDIS_BACKEND": url})
        assert json.loads(default_ns.stdout) == []
    finally:
        other.close()


def test_prefix_environment_variable(url: str) -> None:
    """PREFIX (php-resque's variable) sets the namespace too."""
    other = Resque(url, namespace="php")
    try:
        other.enqueue("jobs", "My_Job")
        result = CliRunner().invoke(main, ["queues", "--json", "-r", url], env={"PREFIX": "php"})
        assert json.loads(result.stdout) == [{"name": "jobs", "size": 1}]
    finally:
        other.close()


def test_unreachable_backend_is_a_clean_error() -> None:
    """A server that does not answer gives a one-line error naming it, exit status 1."""
    result = CliRunner().invoke(main, ["info", "-r", "redis://127.0.0.1:1/0"])
    assert result.exit_code == 1
    assert "cannot reach the backend at redis://127.0.0.1:1/0" in result.stderr


def test_unknown_backend_scheme_is_a_clean_error() -> None:
    """A backend URL with an unknown scheme is refused with the known ones listed."""
    result = CliRunner().invoke(main, ["queues", "-r", "mongodb://x"])
    assert result.exit_code == 1
    assert "unknown backend scheme" in result.stderr


def test_enqueue_in_schedules_a_delayed_job(url: str, app: Resque) -> None:
    """`enqueue --in 3600` writes a delayed job (resque-scheduler keys), nothing queued now."""
    before = int(time.time())
    data = run_json(url, "enqueue", "mail", "Mailer::Later", "[1]", "--in", "3600")
    assert before + 3600 <= data["scheduled_at"] <= int(time.time()) + 3600
    assert app.queues() == []
    assert app.scheduled_at("mail", "Mailer::Later", 1) == [data["scheduled_at"]]
    assert run_json(url, "info")["delayed"] == 1


def test_enqueue_at_iso_time_and_past_time(url: str, app: Resque) -> None:
    """`--at` takes ISO-8601 (UTC without zone) or epoch seconds; a past time enqueues at once."""
    result = run(url, "enqueue", "q", "Later", "--at", "2999-01-01T00:00:00")
    assert result.exit_code == 0, result.output
    assert "scheduled at 32472144000 (2999-01-01T00:00:00Z)" in result.stdout
    assert app.delayed_timestamps() == [32472144000]
    now_data = run_json(url, "enqueue", "q", "Now", "--at", "1000")
    assert [j.id for j in app.peek("q")] == [now_data["id"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--at", "tomorrow"), "not epoch seconds nor ISO-8601"),
        (("--at", "5", "--in", "5"), "not both"),
        (("--in", "5", "--job-id", "x"), "--job-id and --idempotency-key work without --at/--in"),
    ],
)
def test_enqueue_bad_times_are_refused(url: str, app: Resque, args: tuple[str, ...], message: str) -> None:
    """Unreadable or contradictory time options are usage errors; nothing is written."""
    result = run(url, "enqueue", "q", "X", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert app.queues() == [] and app.delayed_count() == 0


def test_app_include_supplies_backend_and_namespace(url: str, tmp_path: Path) -> None:
    """--app-include FILE uses the app the file defines (its backend and namespace)."""
    module = tmp_path / f"opsapp_{uuid.uuid4().hex}.py"
    module.write_text(f"from pyresque import Resque\napp = Resque({url!r}, namespace='inc')\n")
    other = Resque(url, namespace="inc")
    try:
        other.enqueue("incq", "X")
        result = CliRunner().invoke(main, ["queues", "--json", "--app-include", str(module)])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == [{"name": "incq", "size": 1}]
    finally:
        other.close()
