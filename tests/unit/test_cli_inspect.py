"""The operator CLI sees inside: ``peek`` and ``status`` (on a shared fakeredis)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator

import pytest

from pyresque import Resque
from pyresque.core.status import JobStatus
from tests.unit.cli_support import fail_job, run, run_json


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


def _client(app: Resque) -> object:
    return app.backend.client  # type: ignore[attr-defined]


def test_peek_shows_jobs_decoded_in_queue_order(url: str, app: Resque) -> None:
    """`peek Q` gives position, class, args, id and queue_time (a number), left in place."""
    ids = [app.enqueue("mail", "Mailer::Welcome", n, "fr") for n in range(3)]
    data = run_json(url, "peek", "mail")
    assert (data["queue"], data["size"], data["start"]) == ("mail", 3, 0)
    jobs = data["jobs"]
    assert [(j["position"], j["id"], j["args"]) for j in jobs] == [(i, ids[i], [i, "fr"]) for i in range(3)]
    assert all(j["class"] == "Mailer::Welcome" and isinstance(j["queue_time"], float) for j in jobs)
    assert app.size("mail") == 3
    text = run(url, "peek", "mail").stdout
    assert "3 jobs, positions 0-2" in text and ids[1] in text and '[1, "fr"]' in text


def test_peek_pages_with_start_and_count_negative_from_the_end(url: str, app: Resque) -> None:
    """-n and --start page; a negative --start counts from the end; past the end is empty."""
    for n in range(10):
        app.enqueue("q", "Job", n)
    args = [j["args"][0] for j in run_json(url, "peek", "q", "--start", "4", "-n", "3")["jobs"]]
    assert args == [4, 5, 6]
    tail = run_json(url, "peek", "q", "--start", "-2")
    assert (tail["start"], [j["args"][0] for j in tail["jobs"]]) == (8, [8, 9])
    assert run_json(url, "peek", "q", "--start", "-50")["start"] == 0
    assert run_json(url, "peek", "q", "--start", "99")["jobs"] == []
    assert "10 jobs, none shown at position 99" in run(url, "peek", "q", "--start", "99").stdout
    too_many = run(url, "peek", "q", "-n", "100000")
    assert too_many.exit_code == 2 and "1000" in too_many.stderr


def test_peek_shows_undecodable_payloads_escaped_and_never_crashes(url: str, app: Resque) -> None:
    """Bytes that are no job are shown escaped and cut; terminal escapes never reach the screen."""
    client = _client(app)
    app.enqueue("q", "Good", 1)
    client.rpush("resque:queue:q", b"\xff\xfe\x1b[2J not json" + b"x" * 5000)  # type: ignore[attr-defined]
    client.rpush("resque:queue:q", b'{"class": 5, "args": []}')  # type: ignore[attr-defined]
    client.rpush("resque:queue:q", json.dumps({"class": "Evil\x1b]0;pwned\x07", "args": ["\x1b[31m"]}))  # type: ignore[attr-defined]
    result = run(url, "peek", "q")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\\x1b" in result.stdout
    assert "(unreadable" in result.stdout and "Evil" in result.stdout
    jobs = run_json(url, "peek", "q")["jobs"]
    assert jobs[0]["class"] == "Good"
    bad = jobs[1]
    assert bad["size"] == 5015 and bad["raw"].startswith("\\xff\\xfe\\x1b[2J not json")
    assert bad["raw"].endswith("… (5015 bytes)") and len(bad["raw"]) < 1100
    assert "class" in jobs[2]["error"]


def test_peek_unknown_queue_is_one_line_exit_1(url: str, app: Resque) -> None:
    """A queue that is neither registered nor holding jobs is a plain error."""
    result = run(url, "peek", "nope")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: no queue named 'nope' (pyresque queues lists them)"
    app.backend.client.sadd("resque:queues", "empty")  # type: ignore[attr-defined]
    assert "0 jobs, none shown" in run(url, "peek", "empty").stdout


def test_status_of_a_tracked_job_prints_state_times_and_result(url: str, app: Resque) -> None:
    """`status ID` shows the state, times as numbers (as on the wire) and the result."""
    job_id = app.enqueue("q", "Job", track_status=True)
    app.backend.statuses.update(job_id, JobStatus.COMPLETE, {"rows": 3})
    data = run_json(url, "status", job_id)
    tracked = data["tracked"]
    assert (data["id"], tracked["state"], tracked["status"], tracked["result"]) == (
        job_id,
        "complete",
        4,
        {"rows": 3},
    )
    assert isinstance(tracked["updated"], int) and isinstance(tracked["started"], int)
    assert data["failures"] == []
    text = run(url, "status", job_id).stdout
    assert "complete (4)" in text and '{"rows": 3}' in text


def test_status_prints_every_field_the_record_carries(url: str, app: Resque) -> None:
    """Every field of the status record is printed (the progress a running job reported
    included), whatever it is named."""
    job_id = app.enqueue("q", "Job", track_status=True)
    app.backend.statuses.update(job_id, JobStatus.RUNNING)
    assert app.tracked(job_id).set_progress(3, 12, "rows \x1b[2J imported")
    tracked = run_json(url, "status", job_id)["tracked"]
    progress = (tracked["state"], tracked["num"], tracked["total"], tracked["percent"])
    assert progress == ("running", 3, 12, 25.0)
    assert tracked["message"] == "rows \x1b[2J imported"
    text = run(url, "status", job_id).stdout
    assert "num:        3" in text and "total:      12" in text and "percent:    25.0" in text
    assert "rows \\x1b[2J imported" in text and "\x1b" not in text
    info = app.tracked(job_id).get()
    assert info is not None
    from pyresque.cli.ops_inspect import status_fields

    fields = status_fields(info)
    assert set(fields) == {"state", "percent"} | {f.name for f in dataclasses.fields(info)}


def test_status_of_a_failed_job_shows_its_failure_record(url: str, app: Resque) -> None:
    """A failed tracked job's status comes with the failure found by its id."""
    job_id = app.enqueue("q", "Job", 7, track_status=True)
    app.backend.statuses.update(job_id, JobStatus.FAILED)
    fail_job(app, "q", "Other", [1])
    payload = {"class": "Job", "args": [7], "id": job_id}
    from pyresque import FailureRecord

    record = FailureRecord.from_exception(ValueError("bad row 7"), payload=payload, queue="q", worker="h:1:q")
    app.failures.save(record)
    data = run_json(url, "status", job_id)
    assert data["tracked"]["state"] == "failed"
    ((failure),) = data["failures"]
    assert (failure["index"], failure["exception"], failure["error"]) == (1, "ValueError", "bad row 7")
    text = run(url, "status", job_id).stdout
    assert "failure #1" in text and "bad row 7" in text


def test_status_of_an_untracked_failed_job_and_of_an_unknown_id(url: str, app: Resque) -> None:
    """An untracked job with a failure record is shown; an id nothing knows exits 1."""
    from pyresque import FailureRecord

    payload = {"class": "Job", "args": [], "id": "abc123"}
    app.failures.save(FailureRecord.from_exception(KeyError("k"), payload=payload, queue="q", worker="w"))
    data = run_json(url, "status", "abc123")
    assert data["tracked"] is None and len(data["failures"]) == 1
    unknown = run(url, "status", "nope")
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("Error: no status and no failure for job nope")


def test_status_record_that_is_not_a_status_is_one_line(url: str, app: Resque) -> None:
    """A status key another writer mangled is reported plainly, not as a traceback."""
    app.backend.client.set("resque:job:x1:status", b'{"status": "nine"}')  # type: ignore[attr-defined]
    result = run(url, "status", "x1")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "x1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
