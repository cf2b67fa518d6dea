"""A shard spec (redis+shards://... / shards:FILE) on three real redis-servers, where an
operator uses it: the CLI (reads add up, per-item commands act on the right shard,
--shard narrows, what runs on one shard asks for it), the dashboard (aggregate pages,
a row's action on its shard) and the exporter (a shard label on every series)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, generate_latest

from pyresque import Resque
from pyresque.backends.redis.shards import ShardedBackend
from pyresque.cli import main
from pyresque.observability.exporter import ShardedRedisCollector, exporter_registry
from tests.e2e.seed import add_failures, add_worker, web_client
from tests.redis_server import RedisServer
from tests.roundtrips import counting_client

pytestmark = [pytest.mark.redis]


@pytest.fixture
def servers() -> Iterator[list[RedisServer]]:
    started = []
    try:
        for _ in range(3):
            server = RedisServer()
            server.start()
            started.append(server)
        yield started
    finally:
        for server in started:
            server.close()


@pytest.fixture
def spec(servers: list[RedisServer]) -> str:
    shards = ",".join(f"{name}={s.url}" for name, s in zip("abc", servers, strict=True))
    return f"redis+shards://{shards}?map=mail:c,billing:a"


@pytest.fixture
def app(spec: str) -> Iterator[Resque]:
    resque = Resque(spec)
    yield resque
    resque.close()


def _shard(app: Resque, name: str) -> Resque:
    backend = app.backend
    assert isinstance(backend, ShardedBackend)
    return Resque(backend.shards[name])


def _cli(spec: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--redis", spec, *args])
    return result.exit_code, result.output


def _json(spec: str, *args: str) -> object:
    code, out = _cli(spec, "--json", *args)
    assert code == 0, out
    return json.loads(out)


def test_the_cli_adds_up_every_shard(app: Resque, spec: str) -> None:
    for i in range(3):
        app.enqueue("mail", "Mailer", i)
    app.enqueue("billing", "Bill", 1)
    app.enqueue_in(600, "mail", "Later", 1)
    app.enqueue_in(900, "billing", "Later", 2)
    add_worker(_shard(app, "c"), "host:1:mail")
    add_failures(_shard(app, "c"), 2, queue="mail")
    add_failures(_shard(app, "a"), 1, queue="billing")
    info = _json(spec, "info")
    assert isinstance(info, dict)
    assert (info["pending"], info["failed"], info["delayed"], info["workers"]) == (4, 3, 2, 1)
    queues = _json(spec, "queues")
    assert {(q["name"], q["size"], q["shard"]) for q in queues} == {("mail", 3, "c"), ("billing", 1, "a")}  # type: ignore[index]
    workers = _json(spec, "workers")
    assert [(w["id"], w["shard"]) for w in workers] == [("host:1:mail", "c")]  # type: ignore[index]
    delayed = _json(spec, "delayed", "list")
    assert sum(t["count"] for t in delayed["timestamps"]) == 2  # type: ignore[index]
    items = _json(spec, "delayed", "show", "--all")
    assert [(i["queue"], i["shard"]) for i in items["items"]] == [("mail", "c"), ("billing", "a")]  # type: ignore[index]
    assert len(_json(spec, "failed", "list")) == 3  # type: ignore[arg-type]
    code, out = _cli(spec, "peek", "mail")
    assert code == 0 and "Mailer" in out
    code, out = _cli(spec, "queues")
    assert code == 0 and re.search(r"mail\s+3\s+c", out)


def test_per_item_commands_act_on_the_right_shard(app: Resque, spec: str) -> None:
    add_failures(_shard(app, "a"), 1, queue="billing")
    add_failures(_shard(app, "c"), 2, queue="mail")
    app.enqueue_in(600, "mail", "Later", 1)
    app.enqueue_in(600, "billing", "Later", 2)
    # index 1 is shard c's first failure (shard a's list comes first)
    code, out = _cli(spec, "failed", "requeue", "1")
    assert code == 0, out
    assert _shard(app, "c").size("mail") == 1 and _shard(app, "a").size("billing") == 0
    code, out = _cli(spec, "failed", "remove", "0")
    assert code == 0, out
    assert _shard(app, "a").failures.count() == 0 and _shard(app, "c").failures.count() == 2
    code, out = _cli(spec, "delayed", "remove", "mail", "Later", "[1]")
    assert code == 0, out
    assert _shard(app, "c").delayed_count() == 0 and _shard(app, "a").delayed_count() == 1
    code, out = _cli(spec, "queues", "pause", "mail")
    assert code == 0, out
    assert _shard(app, "c").workers_control.paused_queues() == ["mail"]
    assert _shard(app, "a").workers_control.paused_queues() == []
    code, out = _cli(spec, "dequeue", "mail", "-y")
    assert code == 0 and _shard(app, "c").size("mail") == 0


def test_shard_narrows_and_one_shard_commands_ask_for_it(app: Resque, spec: str) -> None:
    app.enqueue("mail", "Mailer", 1)
    app.enqueue("billing", "Bill", 1)
    code, out = _cli(spec, "--shard", "a", "queues")
    assert code == 0 and "billing" in out and "mail" not in out
    code, out = _cli(spec, "queues", "--shard", "c")
    assert code == 0 and "mail" in out and "billing" not in out
    code, out = _cli(spec, "--shard", "z", "queues")
    assert code == 1 and out.strip().splitlines() == ["Error: no shard named 'z'; shards: a, b, c"]
    code, out = _cli(spec, "scheduler")
    assert code == 1 and "add --shard NAME (shards: a, b, c)" in out and len(out.strip().splitlines()) == 1
    code, out = _cli("redis://127.0.0.1:1/0", "--shard", "a", "queues")
    assert code == 1 and "needs a shard spec" in out


def test_a_malformed_spec_is_one_line_without_its_password(servers: list[RedisServer]) -> None:
    bad = f"redis+shards://a=redis://:hunter2@127.0.0.1:{servers[0].port}/0?map=q:zz"
    for args in (["queues"], ["info"], ["metrics", "--once"], ["web"]):
        code, out = _cli(bad, *args)
        assert code == 1, (args, out)
        assert "hunter2" not in out and "unknown shard 'zz'" in out and len(out.strip().splitlines()) == 1


def test_the_file_form_works_in_the_cli(app: Resque, servers: list[RedisServer], tmp_path: Path) -> None:
    path = tmp_path / "shards.toml"
    rows = "\n".join(f'{n} = "{s.url}"' for n, s in zip("abc", servers, strict=True))
    path.write_text(f'[shards]\n{rows}\n[queue_map]\nmail = "c"\nbilling = "a"\n')
    app.enqueue("mail", "Mailer", 1)
    queues = _json(f"shards:{path}", "queues")
    assert [(q["name"], q["shard"]) for q in queues] == [("mail", "c")]  # type: ignore[index]


@pytest.mark.asyncio
async def test_the_dashboard_adds_up_and_acts_on_the_rows_shard(app: Resque, spec: str) -> None:
    for i in range(2):
        app.enqueue("mail", "Mailer", i)
    app.enqueue("billing", "Bill", 1)
    add_worker(_shard(app, "a"), "host:7:billing")
    add_failures(_shard(app, "c"), 2, queue="mail")
    async with web_client(spec) as http:
        overview = (await http.get("/api/overview")).json()
        assert (overview["pending"], overview["failed_entries"], overview["workers"]) == (3, 2, 1)
        assert [(s["shard"], s["pending"]) for s in overview["shards"]] == [("a", 1), ("b", 0), ("c", 2)]
        placed = {(q["name"], q["shard"], q["at"]) for q in overview["queues"]}
        assert placed == {("mail", "c", 2), ("billing", "a", 0)}
        workers = (await http.get("/api/workers")).json()
        assert [(w["id"], w["shard"]) for w in workers["workers"]] == [("host:7:billing", "a")]
        failed = (await http.get("/api/failed")).json()
        assert [(f["shard"], f["index"]) for f in failed["failures"]] == [("c", 0), ("c", 1)]
        page = await http.get("/queues")
        assert page.status_code == 200 and 'href="/2/queue?name=mail"' in page.text
        assert "script-src 'nonce-" in page.headers["content-security-policy"]
        assert re.search(r'<script nonce="[^"]+"', page.text)
        # the row's shard: shard c's dashboard, its compare-and-act script
        shown = (await http.get("/2/api/failed")).json()["failures"]
        reply = (await http.post("/2/api/failed/retry", data={"ref": [shown[0]["ref"]]})).json()
        assert (reply["done"], reply["missed"]) == (1, 0)
        assert _shard(app, "c").size("mail") == 3 and _shard(app, "a").size("mail") == 0
        refused = await http.post("/2/api/failed/clear", headers={"sec-fetch-site": "cross-site"})
        assert refused.status_code == 403 and _shard(app, "c").failures.count() == 2
        info = await http.get("/1/stats")
        assert info.status_code == 200 and "redis_version" in info.text


@pytest.mark.asyncio
async def test_the_dashboard_stays_live_behind_auth_and_serves_metrics(app: Resque, spec: str) -> None:
    app.enqueue("mail", "Mailer", 1)
    async with web_client(spec, auth=("ops", "pw")) as http:
        for path in ("/", "/queues", "/api/poll", "/0/", "/2/queues", "/metrics"):
            assert (await http.get(path)).status_code == 401, path
        http.auth = ("ops", "pw")
        before = (await http.get("/api/poll", params={"page": "shards"})).json()
        assert before["pending"] == 1
        app.enqueue("billing", "Bill", 1)
        after = (await http.get("/api/poll")).json()
        assert after["pending"] == 2 and after["fingerprint"] != before["fingerprint"]
        page = await http.get("/")
        assert 'id="live-region"' in page.text and 'data-live="pending"' in page.text
        metrics = await http.get("/metrics")
        assert 'resque_queue_size{queue="mail",shard="c"} 1.0' in metrics.text


@pytest.mark.asyncio
async def test_the_dashboard_escapes_what_a_shard_holds(app: Resque, spec: str) -> None:
    app.enqueue("<script>alert(1)</script>", "X", 1)
    async with web_client(spec) as http:
        page = await http.get("/queues")
        assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text


def test_the_exporter_labels_every_series_with_its_shard(app: Resque, spec: str) -> None:
    for i in range(3):
        app.enqueue("mail", "Mailer", i)
    app.enqueue("billing", "Bill", 1)
    add_failures(_shard(app, "c"), 2, queue="mail")
    registry = exporter_registry(app)
    value = registry.get_sample_value
    assert value("resque_queue_size", {"queue": "mail", "shard": "c"}) == 3
    assert value("resque_queue_size", {"queue": "billing", "shard": "a"}) == 1
    assert value("resque_failed_jobs", {"shard": "c"}) == 2
    assert value("resque_failed_jobs", {"shard": "a"}) == 0
    assert value("resque_exporter_shard_up", {"shard": "b"}) == 1
    text = generate_latest(registry).decode()
    assert 'resque_workers{shard="b",state="idle"} 0.0' in text
    code, out = _cli(spec, "metrics", "--once")
    assert code == 0 and 'resque_queue_size{queue="mail",shard="c"} 3.0' in out


def test_a_scrape_costs_two_round_trips_per_shard(app: Resque, servers: list[RedisServer]) -> None:
    for i in range(20):
        app.enqueue(f"q{i}", "Job", i)
    clients = [counting_client(s.url) for s in servers]
    for client, _ in clients:
        client.ping()  # the connection's handshake is not the scrape's
    registry = CollectorRegistry()
    shards = [(name, client, "resque") for name, (client, _) in zip("abc", clients, strict=True)]
    registry.register(ShardedRedisCollector(shards))
    for _, counter in clients:
        counter.sent = 0
    backend = app.backend
    assert isinstance(backend, ShardedBackend)
    where = {"queue": "q0", "shard": backend.map.shard_of("q0")}
    assert registry.get_sample_value("resque_queue_size", where) == 1
    assert [counter.sent for _, counter in clients] == [2, 2, 2]
    for client, _ in clients:
        client.close()


def test_a_shard_down_is_said_and_the_others_still_report(
    app: Resque, spec: str, servers: list[RedisServer]
) -> None:
    app.enqueue("mail", "Mailer", 1)
    servers[1].stop()
    registry = exporter_registry(app)
    assert registry.get_sample_value("resque_exporter_shard_up", {"shard": "b"}) == 0
    assert registry.get_sample_value("resque_queue_size", {"queue": "mail", "shard": "c"}) == 1


def test_a_stalled_shard_costs_the_scrape_its_timeout_only(app: Resque, servers: list[RedisServer]) -> None:
    app.enqueue("mail", "Mailer", 1)
    backend = app.backend
    assert isinstance(backend, ShardedBackend)
    shards = [(name, shard.client, "resque") for name, shard in backend.shards.items()]
    registry = CollectorRegistry()
    registry.register(ShardedRedisCollector(shards, timeout=1.0))
    assert registry.get_sample_value("resque_exporter_shard_up", {"shard": "a"}) == 1
    servers[0].sigstop()
    try:
        assert registry.get_sample_value("resque_exporter_shard_up", {"shard": "a"}) == 0
        assert registry.get_sample_value("resque_queue_size", {"queue": "mail", "shard": "c"}) == 1
    finally:
        servers[0].sigcont()
    deadline = time.monotonic() + 30
    while registry.get_sample_value("resque_exporter_shard_up", {"shard": "a"}) != 1:
        assert time.monotonic() < deadline, "shard a never answered again"
        time.sleep(0.2)
