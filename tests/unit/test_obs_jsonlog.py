"""--log-format json: one JSON object per line with the job's fields."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest

from pyresque import Resque
from pyresque.cli.common import setup_logging
from pyresque.core.worker import Worker
from pyresque.observability.jsonlog import JsonFormatter, WorkerTag

job_log = logging.getLogger("myapp.jobs")


def _ok(n: int) -> None:
    job_log.info("working on %d", n)


def _bad() -> None:
    raise ValueError("nope")


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter({"service": "test"}))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    jobs = logging.getLogger("pyresque.worker.jobs")
    old_jobs = jobs.level
    jobs.setLevel(logging.INFO)
    yield out
    root.removeHandler(handler)
    root.setLevel(old_level)
    jobs.setLevel(old_jobs)


def test_job_lines_carry_the_job_fields(lines: io.StringIO) -> None:
    app = Resque(f"fakeredis://obs-log-{uuid.uuid4().hex}", plugins=[WorkerTag()])
    app.job(_ok, name="Ok")
    app.job(_bad, name="Bad")
    ok_id = app.enqueue("q", "Ok", 7)
    bad_id = app.enqueue("q", "Bad")
    app.backend.client.rpush("resque:queue:q", '{"class":"Evil\\n{\\"level\\":\\"x\\"}","args":[]}')  # type: ignore[attr-defined]
    worker = Worker(app, "q", mode="inprocess", burst=True)
    worker.work()
    app.close()
    records = [json.loads(line) for line in lines.getvalue().splitlines()]  # every line is one object
    inside = next(r for r in records if r["logger"] == "myapp.jobs")
    assert inside["message"] == "working on 7"
    assert (inside["queue"], inside["class"], inside["job_id"]) == ("q", "Ok", ok_id)
    assert inside["worker"] == worker.id and inside["service"] == "test"
    done = next(r for r in records if r["logger"] == "pyresque.worker.jobs" and r.get("job_id") == ok_id)
    assert done["outcome"] == "done" and done["class"] == "Ok" and isinstance(done["duration"], float)
    assert done["worker"] == worker.id
    failed = next(r for r in records if r.get("job_id") == bad_id)
    assert failed["outcome"] == "failed" and failed["exception"] == "ValueError: nope"
    assert failed["level"] == "WARNING" and failed["time"].endswith("+00:00")
    evil = next(r for r in records if str(r.get("class", "")).startswith("Evil"))
    assert evil["outcome"] == "failed"


def test_exc_info_becomes_a_traceback() -> None:
    try:
        raise KeyError("k")
    except KeyError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "oops", None, exc_info=True)
        import sys

        record.exc_info = sys.exc_info()
    data = json.loads(JsonFormatter().format(record))
    assert data["exception"] == "KeyError: 'k'" and "Traceback" in data["traceback"]


def test_setup_logging_json_and_text_default() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        setup_logging(False, False, False, "json")
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
        setup_logging(False, False, False)
        assert not isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
