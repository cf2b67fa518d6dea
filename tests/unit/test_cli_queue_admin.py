"""The operator CLI: ``queues remove`` and ``queues --prune-empty`` (on a shared fakeredis;
the races are in tests/integration/test_cli_queue_admin.py, on a real redis-server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from pyresque import Resque
from tests.unit.cli_support import run, run_json


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


def test_queues_remove_drops_jobs_and_registration_once_confirmed(url: str, app: Resque) -> None:
    """`queues remove Q` asks, then drops the queue's jobs and its registration."""
    app.enqueue("old", "A", 1)
    app.enqueue("old", "A", 2)
    app.enqueue("keep", "B")
    refused = run(url, "queues", "remove", "old", input="n\n")
    assert refused.exit_code == 1 and "Remove queue 'old' and its 2 jobs?" in refused.output
    assert app.size("old") == 2
    assert run_json(url, "queues", "remove", "old", "--yes") == {"queue": "old", "removed": 2}
    assert app.queues() == ["keep"] and app.size("old") == 0
    assert "removed queue keep and 1 job" in run(url, "queues", "remove", "keep", "-y").stdout
    unknown = run(url, "queues", "remove", "old", "-y")
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == "Error: no queue named 'old' (pyresque queues lists them)"


def test_queues_prune_empty_unregisters_only_empty_queues(url: str, app: Resque) -> None:
    """`queues --prune-empty` forgets the registered queues that hold no job."""
    app.enqueue("busy", "A")
    client = app.backend.client  # type: ignore[attr-defined]
    client.sadd("resque:queues", "idle1", "idle2")
    data = run_json(url, "queues", "--prune-empty", "--grace", "0")
    assert data == {"pruned": ["idle1", "idle2"], "registered_again": []}
    assert app.queues() == ["busy"]
    again = run(url, "queues", "--prune-empty")
    assert again.exit_code == 0 and "unregistered 0 empty queues" in again.stdout
    assert run_json(url, "queues") == [{"name": "busy", "size": 1}]


def test_prune_repairs_a_push_made_in_two_commands(url: str, app: Resque) -> None:
    """A writer that registers and pushes in two commands (php-resque) and is pruned in
    between gets its queue registered again by the repair step."""
    client = app.backend.client  # type: ignore[attr-defined]
    broker = app.backend.broker
    client.sadd("resque:queues", "php")  # php-resque: SADD ...
    assert broker.unregister_empty(["php"]) == ["php"]  # ... a prune runs here ...
    client.rpush("resque:queue:php", b'{"class":"My_Job","args":[{}]}')  # ... then RPUSH
    assert app.queues() == []
    assert broker.register_nonempty(["php"]) == ["php"]
    assert app.queues() == ["php"]
    assert broker.register_nonempty(["php"]) == []  # a repeat changes nothing


def test_queues_prune_empty_takes_no_sub_command(url: str) -> None:
    """`queues --prune-empty remove Q` is a usage error."""
    assert run(url, "queues", "--prune-empty", "remove", "x").exit_code == 2
