"""History: daily counters with a TTL, per-class per-minute numbers, pyresque stats."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from pyresque import Resque
from pyresque.core.worker import Worker
from pyresque.observability.history import HistoryPlugin, daily, minute_key, minutes
from tests.worker_proc import ROOT, start_worker, stop

pytestmark = pytest.mark.redis

NOW = time.time()  # minute hashes expire hours after their minute: a past clock would find them gone
TODAY = dt.datetime.fromtimestamp(NOW, dt.timezone.utc).strftime("%Y-%m-%d")
YESTERDAY = dt.datetime.fromtimestamp(NOW - 86400, dt.timezone.utc).strftime("%Y-%m-%d")


def _ok() -> None: ...


def _bad() -> None:
    raise RuntimeError("bad")


def test_jobs_write_daily_and_minute_history(redis_url: str) -> None:
    app = Resque(redis_url, plugins=[HistoryPlugin(days=3, hours=2, clock=lambda: NOW)])
    app.job(_ok, name="Ok")
    app.job(_bad, name="Bad")
    for _ in range(3):
        app.enqueue("h", "Ok")
    app.enqueue("h", "Bad")
    r = redis.Redis.from_url(redis_url)
    r.rpush("resque:queue:h", '{"class":"Nobody","args":[]}')
    Worker(app, "h", mode="inprocess", burst=True).work()
    assert r.get(f"resque:stat:processed:{TODAY}") == b"5"
    assert r.get(f"resque:stat:failed:{TODAY}") == b"2"
    assert 0 < r.ttl(f"resque:stat:processed:{TODAY}") <= 3 * 86400
    minute = int(NOW // 60)
    key = minute_key(app.backend.keys, minute)  # type: ignore[attr-defined]
    fields = {k.decode(): v.decode() for k, v in r.hgetall(key).items()}
    assert fields["Ok:processed"] == "3" and "Ok:failed" not in fields
    assert fields["Bad:processed"] == "1" and fields["Bad:failed"] == "1"
    assert fields["unknown:failed"] == "1" and not any("Nobody" in f for f in fields)
    assert r.expiretime(key) == (minute + 1) * 60 + 2 * 3600
    assert [(d.date, d.processed, d.failed) for d in daily(app, 2, now=NOW)] == [
        (YESTERDAY, 0, 0),
        (TODAY, 5, 2),
    ]
    rows = {c.class_name: c for c in minutes(app, 5, now=NOW + 60)}
    assert rows["Ok"].processed == 3 and rows["Ok"].mean_seconds is not None
    assert rows["Bad"].failed == 1
    app.close()


def test_stats_command(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    r.set(f"resque:stat:processed:{today}", 12)
    r.set(f"resque:stat:failed:{today}", 3)
    cmd = [sys.executable, "-m", "pyresque", "stats", "--days", "2", "--redis", redis_url, "--json"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["days"][-1] == {"date": today, "processed": 12, "failed": 3}
    assert len(data["days"]) == 2
    text = subprocess.run(cmd[:-1], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert text.returncode == 0 and f"{today}  12" in text.stdout


def test_a_fork_mode_worker_writes_history_from_its_children(redis_url: str, tmp_path: Path) -> None:
    app_file = tmp_path / "hist_app.py"
    app_file.write_text(
        "import os\n"
        "from pyresque import Resque\n"
        "from pyresque.observability.history import HistoryPlugin\n"
        "import tests.worker_jobs as jobs\n"
        "app = Resque(os.environ['OBS_REDIS'], plugins=[HistoryPlugin()])\n"
        "jobs.register(app)\n"
    )
    client = Resque(redis_url)
    for n in range(3):
        client.enqueue("hist", "noop", n)
    client.enqueue("hist", "kill_self")  # its child dies: the worker counts the failure
    args = ["--burst", "--mode", "fork", "--app-include", str(app_file)]
    assert stop(start_worker(redis_url, "hist", *args, env={"OBS_REDIS": redis_url}), timeout=60) == 0
    today = daily(client, 1)[-1]
    assert (today.processed, today.failed) == (4, 1)
    rows = {c.class_name: c for c in minutes(client, 5)}
    assert rows["noop"].processed == 3 and rows["noop"].mean_seconds is not None
    assert rows["kill_self"].failed == 1
    client.close()
