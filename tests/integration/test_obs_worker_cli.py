"""pyresque worker --metrics-port P (fork modes, COUNT) and --log-format json."""

from __future__ import annotations

import json
import signal
import socket
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client.parser import text_string_to_metric_families

from pyresque import Resque
from tests.worker_proc import start_worker, stop, wait_for

pytestmark = pytest.mark.redis


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _processed(port: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return -1.0
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "resque_jobs_processed_total"
    )


MODES = [
    ["--mode", "fork"],
    ["--mode", "fork-every", "--jobs-per-child", "2"],
    ["--count", "2"],
    ["--mode", "async"],
    ["--mode", "inprocess"],
]


@pytest.mark.parametrize("args", MODES)
def test_metrics_port_serves_what_children_counted(app: Resque, redis_url: str, args: list[str]) -> None:
    for n in range(5):
        app.enqueue("cli", "noop", n)
    app.enqueue("cli", "boom")
    port = _free_port()
    proc = start_worker(redis_url, "cli", "--metrics-port", str(port), "--interval", "0.1", *args)
    try:
        wait_for(lambda: _processed(port) == 6, 60, "6 jobs counted on the metrics port")
    finally:
        proc.send_signal(signal.SIGQUIT)
        code = stop(proc, timeout=30)
    assert code == 0


def test_metrics_port_in_use_is_one_line(redis_url: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        log = tmp_path / "out.log"
        proc = start_worker(redis_url, "cli", "--burst", "--metrics-port", str(port), log=log)
        assert stop(proc, timeout=30) == 1
    text = log.read_text()
    assert "Traceback" not in text and f"port {port}" in text


def test_log_format_json_is_one_object_per_line(app: Resque, redis_url: str, tmp_path: Path) -> None:
    job_id = app.enqueue("cli", "noop", 1)
    bad_id = app.enqueue("cli", "boom")
    log = tmp_path / "out.log"
    proc = start_worker(redis_url, "cli", "--burst", "-v", "--log-format", "json", log=log)
    assert stop(proc, timeout=30) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    done = next(r for r in lines if r.get("job_id") == job_id and r.get("outcome"))
    assert done["outcome"] == "done" and done["class"] == "noop" and done["queue"] == "cli"
    assert isinstance(done["duration"], float) and done["worker"].split(":")[2] == "cli"
    failed = next(r for r in lines if r.get("job_id") == bad_id and r.get("outcome"))
    assert failed["outcome"] == "failed" and failed["exception"].startswith("RuntimeError: boom")
    assert {"time", "level", "logger", "message"} <= set(done)
