"""``pyresque worker`` and the shared CLI helpers, in-process on fakeredis."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pyresque import Resque
from pyresque.cli import main
from pyresque.cli.common import import_app_include, make_app, setup_logging


@pytest.fixture
def server_name() -> str:
    """A fresh shared fakeredis server name for this test."""
    return f"cli-{uuid.uuid4().hex}"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLI configures the root logger: put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def run(args: list[str], env: dict[str, str]) -> click.testing.Result:
    return CliRunner().invoke(main, ["worker", *args], env=env, catch_exceptions=False)


def test_env_vars_configure_a_burst_worker(server_name: str, tmp_path: Path, restore_logging: None) -> None:
    """QUEUE, PREFIX, REDIS_BACKEND and APP_INCLUDE work as Resque users type them."""
    url = f"fakeredis://{server_name}"
    app = Resque(url, namespace="myns")
    app.enqueue("b", "record", "from-b")
    app.enqueue("a", "record", "from-a")
    trace = tmp_path / "trace"
    env = {
        "QUEUE": "a,b",
        "PREFIX": "myns",
        "REDIS_BACKEND": url,
        "APP_INCLUDE": "tests.worker_jobs",
        "PYRESQUE_TEST_TRACE": str(trace),
    }
    result = run(["--burst", "--mode", "inprocess"], env)
    assert result.exit_code == 0, result.output
    assert trace.read_text().splitlines() == ["from-a", "from-b"]
    assert app.backend.stats.get("processed") == 2


def test_verbose_logs_one_line_per_job(
    server_name: str, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """VERBOSE=1: a line per job with queue, class, id, duration and outcome."""
    url = f"fakeredis://{server_name}"
    job_id = Resque(url).enqueue("q", "noop")
    env = {"QUEUE": "q", "REDIS_URL": url, "APP_INCLUDE": "tests.worker_jobs", "VERBOSE": "1"}
    result = CliRunner().invoke(main, ["worker", "--burst", "--mode", "inprocess"], env=env)
    assert result.exit_code == 0, result.output
    err = capsys.readouterr().err + result.output
    assert any(f"q noop id={job_id}" in line and "done" in line for line in err.splitlines()), err


def test_missing_queue_is_a_usage_error(restore_logging: None) -> None:
    """No QUEUE and no --queue: a usage error naming QUEUE."""
    result = CliRunner().invoke(main, ["worker", "--redis", "fakeredis://"], env={"QUEUE": "", "QUEUES": ""})
    assert result.exit_code == 2 and "QUEUE" in result.output


def test_forking_mode_on_fakeredis_is_refused_clearly(restore_logging: None) -> None:
    """fork mode with fakeredis: an error that says to use inprocess."""
    result = CliRunner().invoke(main, ["worker", "-q", "q", "--redis", "fakeredis://", "--burst"])
    assert result.exit_code == 1 and "inprocess" in result.output


def test_pidfile_is_written_and_removed(server_name: str, tmp_path: Path, restore_logging: None) -> None:
    """PIDFILE holds the pid while running and is removed on exit."""
    pidfile, trace = tmp_path / "w.pid", tmp_path / "trace"
    url = f"fakeredis://{server_name}"
    Resque(url).enqueue("q", "record_file", str(pidfile))
    env = {"PIDFILE": str(pidfile), "PYRESQUE_TEST_TRACE": str(trace), "APP_INCLUDE": "tests.worker_jobs"}
    result = run(["-q", "q", "--burst", "--mode", "inprocess", "--redis", url], env)
    assert result.exit_code == 0, result.output
    assert trace.read_text().strip().isdigit()
    assert not pidfile.exists()


def test_app_include_path_defining_an_app_is_used(server_name: str, tmp_path: Path) -> None:
    """A .py include defining `app` gives that very app (its backend and jobs)."""
    module = tmp_path / "inc_with_app.py"
    module.write_text(
        f'from pyresque import Resque\napp = Resque("fakeredis://{server_name}", namespace="x")\n'
    )
    found = import_app_include(str(module))
    assert isinstance(found, Resque)
    assert make_app(None, None, str(module)) is found


def test_app_include_register_function_gets_a_built_app(tmp_path: Path) -> None:
    """An include without an app: an app is built and its register(app) called."""
    module = tmp_path / "inc_register.py"
    module.write_text("def job(): pass\ndef register(app):\n    app.job(job, name='Registered')\n")
    app = make_app("fakeredis://", "ns", str(module))
    assert "Registered" in app.registry.names()
    assert import_app_include(str(module)) is None


def test_app_include_module_names_resolve_without_registering(tmp_path: Path) -> None:
    """A plain module include: its own dotted names are allowed."""
    app = make_app("fakeredis://", None, "tests.worker_jobs")
    assert app.registry.resolve("tests.worker_jobs.noop") is not None


def test_app_include_import_error_is_a_clear_message(tmp_path: Path) -> None:
    """A broken include names itself and the error."""
    module = tmp_path / "broken_inc.py"
    module.write_text("raise RuntimeError('nope')\n")
    with pytest.raises(click.ClickException, match=r"broken_inc\.py.*RuntimeError: nope"):
        make_app("fakeredis://", None, str(module))


def test_setup_logging_levels(restore_logging: None) -> None:
    """Default warnings; LOGGING/VERBOSE info; VVERBOSE debug."""
    setup_logging(False, False, False)
    assert logging.getLogger().level == logging.WARNING
    setup_logging(True, False, False)
    assert logging.getLogger().level == logging.INFO
    setup_logging(False, False, True)
    assert logging.getLogger().level == logging.DEBUG
