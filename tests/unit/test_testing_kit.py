"""The users' test kit: fake apps, enqueue assertions, the pytest plugin, the docs example."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from pyresque import ConfigurationError, JobNotRegistered, Resque
from pyresque.backends.fake import FakeBackend
from pyresque.testing import (
    assert_enqueued,
    assert_not_enqueued,
    enqueued,
    fake_app,
    fake_backend,
    reset,
)
from tests import jobs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def kit_app() -> Resque:
    """A kit-made fake app with the test jobs registered."""
    app = fake_app()
    jobs.register_all(app)
    return app


def test_fake_app_is_isolated_and_namespaced() -> None:
    """Two fake apps never share data; the namespace option is honoured."""
    a, b = fake_app(), fake_app(namespace="other")
    a.enqueue("q", "X")
    assert b.queues() == []
    assert b.backend.keys.namespace == "other"  # type: ignore[attr-defined]
    b.enqueue("q", "Y")
    assert b.backend.client.exists("other:queue:q") == 1  # type: ignore[attr-defined]


def test_fake_backend_swaps_and_restores_the_apps_backend(redis_url: str) -> None:
    """fake_backend points a real app at fakeredis for the block and restores it after."""
    app = Resque(redis_url, namespace="proj")
    jobs.register_all(app)
    original = app.backend
    with fake_backend(app) as same:
        assert same is app
        assert isinstance(app.backend, FakeBackend)
        assert app.backend.keys.namespace == "proj"  # type: ignore[attr-defined]
        app.enqueue("q", jobs.Add, 1, 2)
        assert app.size("q") == 1
    assert app.backend is original
    assert app.size("q") == 0  # nothing reached the real server
    app.close()


def test_reset_empties_fake_server(kit_app: Resque) -> None:
    """reset() drops queues and failures from the fakeredis server."""
    kit_app.enqueue("q", jobs.Add, 1, 2)
    reset(kit_app)
    assert kit_app.queues() == []


def test_reset_refuses_a_real_redis(redis_url: str) -> None:
    """reset() never flushes a real Redis: it raises instead."""
    app = Resque(redis_url)
    app.enqueue("q", "X")
    with pytest.raises(ConfigurationError, match="only empties fakeredis"):
        reset(app)
    assert app.size("q") == 1
    app.close()


def test_enqueued_filters_by_queue_class_and_args(kit_app: Resque) -> None:
    """enqueued() lists waiting jobs, filtered by queue, job and exact args."""
    kit_app.enqueue("a", jobs.Add, 1, 2)
    kit_app.enqueue("b", jobs.Add, 3, 4)
    kit_app.enqueue("b", jobs.Echo, "x")
    assert [(j.queue, j.class_name) for j in enqueued(kit_app)] == [("a", "Add"), ("b", "Add"), ("b", "Echo")]
    assert [list(j.args) for j in enqueued(kit_app, "b", jobs.Add)] == [[3, 4]]
    assert [j.queue for j in enqueued(kit_app, job="Add", args=(3, 4))] == ["b"]
    assert enqueued(kit_app, job=jobs.Add, args=[9]) == []


def test_assert_enqueued_returns_matches_and_checks_count(kit_app: Resque) -> None:
    """assert_enqueued passes on a match, returns the jobs, and enforces count=."""
    kit_app.enqueue("mail", jobs.Echo, "a@b", {"lang": "fr"})
    kit_app.enqueue("mail", jobs.Echo, "a@b", {"lang": "fr"})
    found = assert_enqueued(kit_app, jobs.Echo, args=["a@b", {"lang": "fr"}], queue="mail", count=2)
    assert len(found) == 2 and all(j.id for j in found)
    with pytest.raises(AssertionError, match="expected 1 x Echo"):
        assert_enqueued(kit_app, jobs.Echo, count=1)


def test_assert_enqueued_failure_lists_what_is_enqueued(kit_app: Resque) -> None:
    """A failed assertion names what was expected and shows what is there instead."""
    kit_app.enqueue("q", jobs.Add, 1, 2)
    with pytest.raises(AssertionError) as info:
        assert_enqueued(kit_app, jobs.Add, args=[2, 1])
    message = str(info.value)
    assert "expected Add(2, 1), found 0" in message
    assert "q: Add(1, 2)" in message


def test_assert_not_enqueued(kit_app: Resque) -> None:
    """assert_not_enqueued passes on empty queues and fails naming the offending job."""
    assert_not_enqueued(kit_app)
    kit_app.enqueue("q", jobs.Add, 1, 2)
    assert_not_enqueued(kit_app, jobs.Echo)
    with pytest.raises(AssertionError, match="found 1"):
        assert_not_enqueued(kit_app, queue="q")


def test_unregistered_job_in_assertion_is_an_error(kit_app: Resque) -> None:
    """Asserting about a callable the app does not know raises JobNotRegistered, not a pass."""

    class Unknown:
        def perform(self) -> None: ...

    with pytest.raises(JobNotRegistered):
        assert_not_enqueued(kit_app, Unknown)


def test_enqueue_rejects_what_production_would_reject(kit_app: Resque) -> None:
    """Arguments JSON cannot carry are refused at enqueue on the fake app, as in production."""
    with pytest.raises(TypeError):
        kit_app.enqueue("q", jobs.Echo, dt.datetime.now())
    assert_not_enqueued(kit_app)


def test_undecodable_payload_is_reported_not_skipped(kit_app: Resque) -> None:
    """A corrupt payload in a queue makes enqueued() raise rather than hide it."""
    kit_app.backend.client.rpush("resque:queue:q", b"{not json")  # type: ignore[attr-defined]
    kit_app.backend.client.sadd("resque:queues", "q")  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="not valid JSON"):
        enqueued(kit_app)


def test_docs_example_suite_passes() -> None:
    """The runnable example suite in docs/examples/testing passes, using the pytest plugin."""
    folder = ROOT / "docs" / "examples" / "testing"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(folder), "-q", "-p", "no:cacheprovider"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "11 passed" in proc.stdout, proc.stdout


def test_inline_app_fixture_is_inline(pyresque_inline_app: Resque) -> None:
    """The plugin's pyresque_inline_app performs jobs at enqueue."""
    pyresque_inline_app.job(jobs.Boom, name="Boom")
    with pytest.raises(RuntimeError, match="boom"):
        pyresque_inline_app.enqueue("q", "Boom")
    assert pyresque_inline_app.failures.count() == 1


def test_importing_the_kit_has_no_side_effects() -> None:
    """Importing pyresque.testing (as pytest's plugin loader does) connects nowhere, installs no
    log handler or signal handler, and does not need fakeredis until an app is made."""
    code = (
        "import logging, signal, socket, sys\n"
        "opened = []\n"
        "socket.socket.connect = lambda self, *a: opened.append(a)\n"
        "term, alarm = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGALRM)\n"
        "import pyresque.testing\n"
        "assert not opened, opened\n"
        "assert not logging.getLogger().handlers\n"
        "assert signal.getsignal(signal.SIGTERM) is term and signal.getsignal(signal.SIGALRM) is alarm\n"
        "assert 'fakeredis' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.stdout.strip() == "ok", out.stderr
