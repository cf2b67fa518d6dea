"""Nothing is written for a time no job can be delayed to, nor for a queue name a worker
would read as a pattern (issue 11, item 9)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from pyresque import ConfigurationError, InvalidQueueName, Resque
from pyresque.cli import main


@pytest.fixture
def url() -> str:
    return f"fakeredis://checks-{uuid.uuid4().hex}"


@pytest.fixture
def app(url: str) -> Iterator[Resque]:
    app = Resque(url)
    yield app
    app.close()


def _nothing_written(app: Resque) -> None:
    assert app.queues() == []
    assert app.delayed_count() == 0


@pytest.mark.parametrize(
    "option",
    [["--at", "1e20"], ["--at", "inf"], ["--at", "nan"], ["--at", "253402300800"], ["--in", "1e20"]],
)
def test_cli_refuses_a_time_no_job_can_be_delayed_to(url: str, app: Resque, option: list[str]) -> None:
    """`enqueue q Foo '[]' --at 1e20` is a usage error (exit 2), checked before writing."""
    result = CliRunner().invoke(main, ["enqueue", "q", "Foo", "[]", *option, "-r", url])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "not a time a job can be delayed to" in result.stderr
    _nothing_written(app)


def test_cli_still_takes_the_latest_time(url: str, app: Resque) -> None:
    """The last second of year 9999 is accepted and shown."""
    result = CliRunner().invoke(main, ["enqueue", "q", "Foo", "[]", "--at", "253402300799", "-r", url])
    assert result.exit_code == 0, result.output
    assert "9999-12-31" in result.stdout
    assert app.delayed_count() == 1


@pytest.mark.parametrize("when", [1e20, 10**30, float("inf"), float("-inf"), float("nan")])
def test_enqueue_at_refuses_unusable_times_before_writing(app: Resque, when: float) -> None:
    """The app's enqueue_at raises ConfigurationError (a ValueError) and writes nothing."""
    with pytest.raises(ConfigurationError, match="cannot schedule at"):
        app.enqueue_at(when, "q", "Foo")
    _nothing_written(app)


def test_enqueue_in_refuses_an_infinite_delay(app: Resque) -> None:
    with pytest.raises(ConfigurationError):
        app.enqueue_in(float("inf"), "q", "Foo")
    _nothing_written(app)


@pytest.mark.parametrize("queue", ["mail_*", "!x", "a?b", "q[12]", "*x"])
def test_queue_names_a_worker_reads_as_patterns_are_refused(app: Resque, queue: str) -> None:
    """`mail_*` or `!x` could never be worked alone: enqueue refuses them."""
    with pytest.raises(InvalidQueueName, match="pattern"):
        app.enqueue(queue, "Foo")
    with pytest.raises(InvalidQueueName):
        app.enqueue_at(4_000_000_000, queue, "Foo")
    _nothing_written(app)


@pytest.mark.parametrize("queue", ["mail_*", "!x"])
def test_cli_refuses_pattern_queue_names(url: str, app: Resque, queue: str) -> None:
    result = CliRunner().invoke(main, ["enqueue", queue, "Foo", "[]", "-r", url])
    assert result.exit_code == 1, result.output
    assert "pattern" in result.stderr and "Traceback" not in result.output
    _nothing_written(app)


@pytest.mark.parametrize("queue", ["mail", "a!b", "mail-high", "x.y:z"])
def test_ordinary_names_still_pass(app: Resque, queue: str) -> None:
    app.enqueue(queue, "Foo")
    assert app.size(queue) == 1
