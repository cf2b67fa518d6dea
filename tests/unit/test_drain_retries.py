"""The test kit and retrying job classes: drain raises on the failure the retry plugin gave up on."""

from __future__ import annotations

from typing import Any

import pytest

from pyresque import Resque
from pyresque.testing import drain

RUNS: list[int] = []


class AlwaysFails:
    """Fails every run; retried twice at once, then given up."""

    retry_limit = 2
    retry_delay = 0

    def perform(self, n: int) -> None:
        RUNS.append(n)
        raise ValueError(f"boom {n}")


class FailsOnce:
    """Fails its first run only (then succeeds on the retry)."""

    retry_limit = 2
    retry_delay = 0

    def perform(self, n: int) -> str:
        RUNS.append(n)
        if len(RUNS) == 1:
            raise ValueError("first run fails")
        return "ok"


@pytest.fixture
def app() -> Any:
    RUNS.clear()
    resque = Resque("fakeredis://")
    resque.job(AlwaysFails, name="AlwaysFails")
    resque.job(FailsOnce, name="FailsOnce")
    yield resque
    resque.close()


def test_drain_raises_once_the_retry_plugin_gives_up(app: Resque) -> None:
    """Three runs (the first + retry_limit retries), then the job's own exception."""
    app.enqueue("q", "AlwaysFails", 7)
    with pytest.raises(ValueError, match="boom 7"):
        drain(app)
    assert RUNS == [7, 7, 7]
    assert app.failures.count() == 1


def test_recorded_says_which_run_got_the_failure_record(app: Resque) -> None:
    """The retried runs have no record; the given-up run has the one record."""
    app.enqueue("q", "AlwaysFails", 1)
    log = drain(app, raise_errors=False)
    assert [(p.ok, p.recorded) for p in log] == [(False, False), (False, False), (False, True)]
    assert app.failures.count() == 1
    assert sum(p.recorded for p in log) == app.failures.count()


def test_a_retried_failure_followed_by_a_success_does_not_raise(app: Resque) -> None:
    app.enqueue("q", "FailsOnce", 1)
    log = drain(app)
    assert [(p.ok, p.recorded) for p in log] == [(False, False), (True, False)]
    assert app.failures.count() == 0


def test_a_job_without_retries_is_recorded_by_the_worker_path_as_before(app: Resque) -> None:
    """Watching the store changes neither its object nor the way the worker writes records."""
    from pyresque.backends.failure import writes_failed_list

    seen: list[bool] = []

    def plain() -> None:
        seen.append(writes_failed_list(app.backend))
        raise RuntimeError("plain")

    app.job(plain, name="Plain")
    app.enqueue("q", plain)
    with pytest.raises(RuntimeError, match="plain"):
        drain(app)
    assert seen == [True]
    assert "save" not in vars(app.failures)
    assert app.failures.count() == 1
