"""The operator CLI: ``delayed list|show|remove|clear`` (on a shared fakeredis)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from pyresque import Resque
from tests.unit.cli_support import run, run_json

#: Times far enough ahead that no scheduler would move them during a test.
T1, T2, T3 = 32472144000, 32472144060, 32472144120  # 2999-01-01T00:00:00Z, +60 s, +120 s


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


def _schedule(app: Resque) -> None:
    app.enqueue_at(T2, "mail", "Mailer::Later", 1)
    app.enqueue_at(T1, "mail", "Mailer::Later", 2)
    app.enqueue_at(T1, "low", "Report", "x")
    app.enqueue_at(T3, "mail", "Mailer::Later", 3)


def test_delayed_list_gives_timestamps_soonest_first_with_counts(url: str, app: Resque) -> None:
    """`delayed list` pages the timestamps (numbers in JSON), each with its number of jobs."""
    _schedule(app)
    data = run_json(url, "delayed", "list")
    assert [(r["timestamp"], r["count"]) for r in data["timestamps"]] == [(T1, 2), (T2, 1), (T3, 1)]
    assert data["timestamps"][0]["at"] == "2999-01-01T00:00:00Z"
    page = run_json(url, "delayed", "list", "--start", "1", "-n", "1")["timestamps"]
    assert [r["timestamp"] for r in page] == [T2]
    lines = run(url, "delayed", "list").stdout.splitlines()
    assert lines[0].split() == ["TIMESTAMP", "AT", "WHEN", "JOBS"]
    assert lines[1].split()[:2] == [str(T1), "2999-01-01T00:00:00Z"] and lines[1].split()[-1] == "2"
    assert run(url, "delayed", "list", "-n", "5000").exit_code == 2


def test_delayed_show_a_timestamp_or_all(url: str, app: Resque) -> None:
    """`delayed show TS` lists that time's items decoded; --all every item, soonest first."""
    _schedule(app)
    items = run_json(url, "delayed", "show", str(T1))["items"]
    assert [(i["queue"], i["class"], i["args"]) for i in items] == [
        ("mail", "Mailer::Later", [2]),
        ("low", "Report", ["x"]),
    ]
    iso = run_json(url, "delayed", "show", "2999-01-01T00:00:00Z")["items"]
    assert iso == items
    every = run_json(url, "delayed", "show", "--all")["items"]
    assert [(i["timestamp"], i["args"]) for i in every] == [(T1, [2]), (T1, ["x"]), (T2, [1]), (T3, [3])]
    page = run_json(url, "delayed", "show", "--all", "--start", "2", "-n", "1")["items"]
    assert [i["args"] for i in page] == [[1]]
    assert "Mailer::Later" in run(url, "delayed", "show", "--all").stdout
    assert run(url, "delayed", "show").exit_code == 2
    assert run(url, "delayed", "show", "tomorrow").exit_code == 2


def test_delayed_show_unreadable_items_escaped(url: str, app: Resque) -> None:
    """An item that is not JSON is shown as escaped text, with the other items."""
    app.enqueue_at(T1, "q", "Good")
    client = app.backend.client  # type: ignore[attr-defined]
    client.rpush(f"resque:delayed:{T1}", b"\x1b[2J\xff garbage")
    result = run(url, "delayed", "show", str(T1))
    assert result.exit_code == 0 and "\x1b" not in result.stdout
    assert "(unreadable) \\x1b[2J\\xff" in result.stdout
    items = run_json(url, "delayed", "show", str(T1))["items"]
    assert items[0]["class"] == "Good" and items[1]["size"] == 13


def test_delayed_remove_by_class_and_args_like_remove_delayed(url: str, app: Resque) -> None:
    """`delayed remove Q CLASS ARGS` removes the exact item resque-scheduler would."""
    _schedule(app)
    assert run_json(url, "delayed", "remove", "mail", "Mailer::Later", "[2]") == {"removed": 1}
    assert app.scheduled_at("mail", "Mailer::Later", 2) == []
    assert app.delayed_count() == 3
    missing = run(url, "delayed", "remove", "mail", "Mailer::Later", "[99]")
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: no delayed job Mailer::Later[99]")
    assert run(url, "delayed", "remove", "mail", "Mailer::Later", "{bad").exit_code == 2


def test_delayed_remove_by_timestamp(url: str, app: Resque) -> None:
    """`delayed remove --at TS` removes every item due then and drops the timestamp."""
    _schedule(app)
    assert run_json(url, "delayed", "remove", "--at", str(T1)) == {"removed": 2}
    assert app.delayed_timestamps() == [T2, T3]
    assert run(url, "delayed", "remove", "--at", str(T1)).exit_code == 1
    assert run(url, "delayed", "remove").exit_code == 2
    assert run(url, "delayed", "remove", "--at", str(T1), "--id", "x").exit_code == 2


def test_delayed_remove_by_id(url: str, app: Resque) -> None:
    """`delayed remove --id ID` removes the item that carries that id (the id enqueue_at
    returned, or one another writer put in its item); a repeat removes nothing (exit 1)."""
    client = app.backend.client  # type: ignore[attr-defined]
    job_id = app.enqueue_at(T1, "q", "Job", 1)
    keep = app.enqueue_at(T1, "q", "Job", 1)
    assert run_json(url, "delayed", "remove", "--id", job_id) == {"removed": 1}
    assert [i["id"] for i in run_json(url, "delayed", "show", str(T1))["items"]] == [keep]
    assert run(url, "delayed", "remove", "--id", job_id).exit_code == 1
    foreign = b'{"class":"Job","args":[2],"queue":"q","id":"job-42"}'
    app.backend.delayed.schedule(T2, foreign)
    assert run_json(url, "delayed", "remove", "--id", "job-42") == {"removed": 1}
    assert client.exists(f"resque:delayed:{T2}") == 0
    bad = run(url, "delayed", "remove", "--id", "not an id")
    assert bad.exit_code == 1 and len(bad.stderr.strip().splitlines()) == 1


def test_enqueue_in_prints_the_delayed_job_id_and_tracks_it(url: str, app: Resque) -> None:
    """`enqueue --at ... --track` prints the id; `status` shows it waiting with scheduled_at."""
    data = run_json(url, "enqueue", "q", "Job", "[1]", "--at", str(T1), "--track")
    assert data["scheduled_at"] == T1 and data["id"]
    text = run(url, "enqueue", "q", "Job", "--at", str(T2)).stdout
    assert text.startswith(f"scheduled at {T2} (2999-01-01T00:01:00Z), job ") and len(text.split()[-1]) == 32
    tracked = run_json(url, "status", data["id"])["tracked"]
    assert tracked["state"] == "waiting" and tracked["scheduled_at"] == T1
    (item,) = run_json(url, "delayed", "show", str(T1))["items"]
    assert item["id"] == data["id"]


def test_delayed_clear_asks_first(url: str, app: Resque) -> None:
    """`delayed clear` drops everything once confirmed (or with --yes)."""
    _schedule(app)
    assert run(url, "delayed", "clear", input="n\n").exit_code == 1
    assert app.delayed_count() == 4
    assert run_json(url, "delayed", "clear", "--yes") == {"removed": 4}
    assert app.delayed_count() == 0
    assert run(url, "delayed", "list").stdout.strip() == "no delayed jobs"


def test_delayed_list_says_when_due(url: str, app: Resque) -> None:
    """The table says how far away each time is."""
    app.backend.delayed.schedule(int(time.time()) + 3600, b'{"class":"A","args":[],"queue":"q"}')
    text = run(url, "delayed", "list").stdout
    assert "in 60 min" in text or "in 59 min" in text
