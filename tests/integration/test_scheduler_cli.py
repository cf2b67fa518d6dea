"""``pyresque scheduler`` options and environment variables, against a real redis-server."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from pyresque.cli import main
from tests.integration.scheduler_procs import SchedulerProc, until

pytestmark = pytest.mark.redis


def test_prefix_and_interval_come_from_the_environment(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PREFIX=shop: the lock is shop:shop:resque_scheduler_master_lock and shop: items are promoted."""
    r = redis.Redis.from_url(redis_url)
    monkeypatch.setenv("PREFIX", "shop")
    monkeypatch.setenv("INTERVAL", "0.1")
    proc = SchedulerProc(redis_url)
    try:
        until(lambda: r.exists("shop:shop:resque_scheduler_master_lock") == 1, 20, "the namespaced lock")
        ts = int(time.time()) - 1
        r.rpush(f"shop:delayed:{ts}", b'{"class":"A","args":[],"queue":"q"}')
        r.zadd("shop:delayed_queue_schedule", {str(ts): ts})
        until(lambda: r.llen("shop:queue:q") == 1, 10, "promotion under the prefix")
        assert r.exists("resque:resque:resque_scheduler_master_lock") == 0
    finally:
        proc.terminate()
        proc.close()


def test_app_include_jobs_give_queues_to_items_that_name_none(redis_url: str, tmp_path: Path) -> None:
    """APP_INCLUDE registers a job whose `queue` attribute places a queue-less item."""
    (tmp_path / "sched_jobs.py").write_text(
        "from pyresque import Resque\n\n"
        "def register(app: Resque) -> None:\n"
        "    class Mailer:\n"
        "        queue = 'mail'\n"
        "        def perform(self) -> None: ...\n"
        "    app.job(Mailer, name='Mailer')\n"
    )
    r = redis.Redis.from_url(redis_url)
    ts = int(time.time()) - 1
    r.rpush(f"resque:delayed:{ts}", b'{"class":"Mailer","args":[]}')
    r.zadd("resque:delayed_queue_schedule", {str(ts): ts})
    os.environ["APP_INCLUDE"] = str(tmp_path / "sched_jobs.py")
    try:
        proc = SchedulerProc(redis_url, "--interval", "0.1")
    finally:
        del os.environ["APP_INCLUDE"]
    try:
        until(lambda: r.llen("resque:queue:mail") == 1, 20, "promotion to the class's queue")
    finally:
        proc.terminate()
        proc.close()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("tick:\n  every: soon\n  class: A\n  queue: q\n", "not a duration"),
        ("tick:\n  every: 1m\n  queue: q\n", "needs a class"),
        ("tick: [unclosed\n", "cannot parse"),
    ],
)
def test_invalid_schedule_file_stops_the_command_with_a_clear_error(
    redis_url: str, tmp_path: Path, content: str, message: str
) -> None:
    """A broken schedule file: exit status 1 and the reason, before any scheduling."""
    path = tmp_path / "schedule.yml"
    path.write_text(content)
    result = CliRunner().invoke(main, ["scheduler", "--redis", redis_url, "--schedule", str(path)])
    assert result.exit_code == 1
    assert message in result.output


def test_interval_not_below_lock_timeout_is_refused(redis_url: str) -> None:
    """--interval 5 --lock-timeout 5: refused with the reason."""
    result = CliRunner().invoke(
        main, ["scheduler", "--redis", redis_url, "--interval", "5", "--lock-timeout", "5"]
    )
    assert result.exit_code == 1
    assert "shorter than the lock timeout" in result.output


def test_usr2_reloads_the_schedule_file_and_keeps_it_when_broken(redis_url: str, tmp_path: Path) -> None:
    """USR2 with a broken file keeps the old schedule; with a fixed one the new queue is used."""
    r = redis.Redis.from_url(redis_url)
    path = tmp_path / "schedule.yml"
    path.write_text("tick:\n  every: 1s\n  class: A\n  queue: first\n")
    proc = SchedulerProc(redis_url, "--schedule", str(path), "--interval", "0.2")
    try:
        until(lambda: r.llen("resque:queue:first") >= 1, 20, "the first schedule to run")
        path.write_text("tick: [broken\n")
        proc.proc.send_signal(signal.SIGUSR2)
        until(lambda: "not reloaded" in proc.log(), 10, "the broken file to be reported")
        seen = r.llen("resque:queue:first")
        until(lambda: r.llen("resque:queue:first") > seen, 10, "the old schedule to keep running")
        path.write_text("tick:\n  every: 1s\n  class: A\n  queue: second\n")
        proc.proc.send_signal(signal.SIGUSR2)
        until(lambda: r.llen("resque:queue:second") >= 1, 10, "the reloaded schedule to run")
        proc.proc.send_signal(signal.SIGUSR1)
        until(lambda: "'queue': 'second'" in proc.log(), 10, "USR1 to list the schedule")
        assert proc.terminate() == 0
    finally:
        proc.close()
