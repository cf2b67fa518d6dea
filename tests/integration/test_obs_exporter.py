"""The exporter that reads Redis on each scrape: values, round trips, ASGI app, CLI."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest
import redis

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry

from pyresque import Resque
from pyresque.core import timefmt
from pyresque.observability.exporter import RedisCollector, exporter_registry, make_metrics_asgi_app
from tests.roundtrips import counting_client
from tests.worker_proc import ROOT, wait_for

pytestmark = pytest.mark.redis


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_a_scrape_reads_every_number(app: Resque, redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    now = time.time()
    r.sadd("resque:queues", "ruby", "py", "empty")
    r.rpush("resque:queue:ruby", '{"class":"Ruby","args":[]}')  # Ruby payloads carry no queue_time
    r.rpush("resque:queue:py", f'{{"class":"A","args":[{{"queue_time":1}}],"queue_time":{now - 30}}}')
    r.rpush("resque:queue:py", f'{{"class":"A","args":[],"queue_time":{now}}}')
    r.rpush("resque:failed", "{}", "{}", "{}")
    for ts, n in ((int(now) - 100, 2), (int(now) + 3600, 3)):
        r.zadd("resque:delayed_queue_schedule", {str(ts): ts})
        r.rpush(f"resque:delayed:{ts}", *["{}"] * n)
    r.sadd("resque:workers", "h:1:py", "h:2:py", "h:3:ruby")
    r.set("resque:worker:h:1:py", "{}")
    r.hset("resque:workers:heartbeat", "h:1:py", timefmt.heartbeat_time(now - 5))
    r.hset("resque:workers:heartbeat", "h:2:py", timefmt.heartbeat_time(now - 42))
    r.hset("resque:workers:heartbeat", "gone:9:x", timefmt.heartbeat_time(now - 9999))  # not registered
    r.set("resque:stat:processed", 17)
    r.set("resque:stat:failed", 4)
    reg = exporter_registry(app)
    assert _value(reg, "resque_queue_size", queue="py") == 2
    assert _value(reg, "resque_queue_size", queue="empty") == 0
    latency = _value(reg, "resque_queue_latency_seconds", queue="py")
    assert latency is not None and 29 <= latency < 40  # the head's top-level queue_time, not args'
    assert _value(reg, "resque_queue_latency_seconds", queue="ruby") is None
    assert _value(reg, "resque_failed_jobs") == 3
    assert _value(reg, "resque_delayed_jobs") == 5
    assert _value(reg, "resque_delayed_jobs_due") == 2
    assert _value(reg, "resque_workers", state="working") == 1
    assert _value(reg, "resque_workers", state="idle") == 2
    age = _value(reg, "resque_worker_heartbeat_age_seconds")
    assert age is not None and 41 <= age < 50
    assert _value(reg, "resque_processed_total") == 17
    assert _value(reg, "resque_failed_total") == 4
    assert _value(reg, "resque_scheduler_leader") == 0
    r.set("resque:resque:resque_scheduler_master_lock", "host:1")
    assert _value(reg, "resque_scheduler_leader") == 1
    assert _value(reg, "resque_exporter_scrape_truncated") == 0


def test_a_big_redis_costs_two_round_trips(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    pipe = r.pipeline(transaction=False)
    for q in range(1000):
        pipe.sadd("resque:queues", f"q{q}")
        pipe.rpush(f"resque:queue:q{q}", f'{{"class":"A","args":[],"queue_time":{time.time()}}}')
    for w in range(10_000):
        pipe.sadd("resque:workers", f"h:{w}:q")
        pipe.hset("resque:workers:heartbeat", f"h:{w}:q", timefmt.heartbeat_time())
        if w % 2:
            pipe.set(f"resque:worker:h:{w}:q", "{}")
    pipe.execute()
    client, counter = counting_client(redis_url)
    reg = CollectorRegistry()
    reg.register(RedisCollector(client))
    client.ping()  # the connection's handshake is not the scrape's
    counter.sent = 0
    assert reg.get_sample_value("resque_workers", {"state": "working"}) == 5000
    assert counter.sent == 2
    counter.sent = 0
    assert reg.get_sample_value("resque_queue_size", {"queue": "q999"}) == 1
    assert counter.sent == 2
    client.close()


def test_caps_say_the_scrape_was_cut(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    r.sadd("resque:queues", "a", "b", "c")
    reg = CollectorRegistry()
    reg.register(RedisCollector(r, max_queues=2))
    assert reg.get_sample_value("resque_queue_size", {"queue": "c"}) is None
    assert reg.get_sample_value("resque_exporter_scrape_truncated") == 1


def _get(asgi: Any) -> tuple[int, str]:
    """One GET / through an ASGI app, as a server would call it."""
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": []}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asgi(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(sent[0]["status"]), body.decode()


def test_the_asgi_app_serves_metrics(app: Resque) -> None:
    app.enqueue("jobs", "X")
    status, text = _get(make_metrics_asgi_app(app))
    assert status == 200
    assert 'resque_queue_size{queue="jobs"} 1.0' in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_cli_serves_and_stops(app: Resque, redis_url: str) -> None:
    app.enqueue("jobs", "X")
    port = _free_port()
    cmd = [sys.executable, "-m", "pyresque", "metrics", "--redis", redis_url, "--port", str(port)]
    cmd += ["--addr", "127.0.0.1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:

        def scrape() -> str:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                    return str(resp.read().decode())
            except OSError:
                return ""

        text = str(wait_for(scrape, 20, "the exporter"))
        assert 'resque_queue_size{queue="jobs"} 1.0' in text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


def test_the_cli_says_a_bad_endpoint_in_one_line() -> None:
    port = _free_port()  # nothing listens there
    cmd = [sys.executable, "-m", "pyresque", "metrics", "--redis", f"redis://127.0.0.1:{port}", "--port", "0"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_the_cli_prints_one_scrape_with_once(app: Resque, redis_url: str) -> None:
    app.enqueue("jobs", "X")
    cmd = [sys.executable, "-m", "pyresque", "metrics", "--redis", redis_url, "--once"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert 'resque_queue_size{queue="jobs"} 1.0' in done.stdout.splitlines()
