"""The operator CLI: options before the sub-command, numbers in JSON, ids at enqueue,
``dequeue --id`` without a class, and user mistakes as one line (on a shared fakeredis)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from pyresque import Resque
from pyresque.cli import main
from tests.unit.cli_support import add_ruby_worker, run, run_json


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


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_backend_options_before_the_sub_command(url: str, app: Resque) -> None:
    """`pyresque --redis URL info` and `pyresque --namespace X --json queues` work."""
    app.enqueue("high", "A")
    code, out, err = invoke("--redis", url, "info")
    assert code == 0, err
    assert "pending    1" in out
    shop = Resque(url, namespace="shop")
    try:
        shop.enqueue("orders", "Ship")
        code, out, err = invoke("-r", url, "--namespace", "shop", "--json", "queues")
        assert code == 0, err
        assert json.loads(out) == [{"name": "orders", "size": 1}]
        code, out, _ = invoke("--prefix", "shop", "--json", "queues", env={"REDIS_URL": url})
        assert json.loads(out) == [{"name": "orders", "size": 1}]
    finally:
        shop.close()


def test_an_option_after_the_sub_command_wins(url: str, app: Resque) -> None:
    """Given both before and after the sub-command, the one after wins; either beats the environment."""
    shop = Resque(url, namespace="shop")
    try:
        shop.enqueue("orders", "Ship")
        app.enqueue("plain", "A")
        code, out, _ = invoke("-r", url, "--namespace", "nope", "queues", "--json", "--namespace", "shop")
        assert json.loads(out) == [{"name": "orders", "size": 1}]
        env = {"REDIS_URL": url, "PREFIX": "x"}
        code, out, _ = invoke("--namespace", "shop", "queues", "--json", env=env)
        assert json.loads(out) == [{"name": "orders", "size": 1}]
        code, out, _ = invoke("-r", "redis://127.0.0.1:1/0", "queues", "--json", "-r", url)
        assert json.loads(out) == [{"name": "plain", "size": 1}]
        code, out, _ = invoke("-r", url, "--json", "failed", "list")
        assert code == 0 and json.loads(out) == []
    finally:
        shop.close()


def test_json_numbers_are_numbers(url: str, app: Resque) -> None:
    """Sizes, counts, pids and numeric times are JSON numbers in every --json output."""
    app.enqueue("q", "A")
    add_ruby_worker(app, busy=True)
    info = run_json(url, "info")
    assert all(isinstance(info[k], int) for k in ("pending", "processed", "failed", "delayed", "workers"))
    assert info["queues"] == {"q": 1}
    assert info["worker_list"][0]["pid"] == 4242
    assert run_json(url, "workers")[0]["pid"] == 4242
    assert run_json(url, "queues") == [{"name": "q", "size": 1}]
    assert isinstance(run_json(url, "peek", "q")["jobs"][0]["queue_time"], float)
    scheduled = run_json(url, "enqueue", "q", "A", "--at", "32472144000")
    assert scheduled["scheduled_at"] == 32472144000


def test_enqueue_with_job_id_and_idempotency_key(url: str, app: Resque) -> None:
    """--job-id sets the id (a repeat writes nothing); --idempotency-key enqueues once per key."""
    assert run(url, "enqueue", "q", "A", "[1]", "--job-id", "order-7").stdout.strip() == "order-7"
    assert run(url, "enqueue", "q", "A", "[1]", "--job-id", "order-7").stdout.strip() == "order-7"
    assert [j.id for j in app.peek("q", 0, 10)] == ["order-7"]
    first = run_json(url, "enqueue", "q", "B", "--idempotency-key", "daily-2026-12-02")["id"]
    again = run_json(url, "enqueue", "q", "B", "--idempotency-key", "daily-2026-12-02")["id"]
    assert first == again and app.size("q") == 2
    bad = run(url, "enqueue", "q", "A", "--job-id", "has space")
    assert bad.exit_code == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert run(url, "enqueue", "q", "A", "--job-id", "x", "--in", "60").exit_code == 2


def test_dequeue_by_id_without_class(url: str, app: Resque) -> None:
    """`dequeue Q --id ID` removes that one job, whatever its class; an absent id exits 1."""
    keep = app.enqueue("q", "A", 1)
    drop = app.enqueue("q", "B", 2)
    app.backend.client.rpush("resque:queue:q", b"\xffnot json")  # type: ignore[attr-defined]
    assert run_json(url, "dequeue", "q", "--id", drop) == {"queue": "q", "removed": 1}
    assert [j.id for j in app.peek("q", 0, 10)] == [keep]
    missing = run(url, "dequeue", "q", "--id", drop)
    assert missing.exit_code == 1 and missing.stderr.strip() == f"Error: no job with id {drop} in queue q"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("peek", "nope"), 1),
        (("dequeue", "nope", "A"), 1),
        (("queues", "remove", "nope", "-y"), 1),
        (("failed", "show", "3"), 1),
        (("failed", "show", "-9"), 1),
        (("enqueue", "q", "A", "{bad"), 2),
        (("dequeue", "q", "A", "[1"), 2),
        (("peek", "q", "-n", "-1"), 2),
    ],
)
def test_user_mistakes_are_one_line(url: str, app: Resque, args: tuple[str, ...], code: int) -> None:
    """Unknown queue, bad index, bad JSON: one plain line on stderr, exit 1 (2 for usage)."""
    app.enqueue("q", "A")
    result = run(url, *args)
    assert result.exit_code == code
    assert "Traceback" not in result.output
    if code == 1:
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("Error: ")
