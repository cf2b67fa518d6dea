"""A tracked job's unserializable result is named and logged; failures found by job id."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pyresque import FailureRecord, JobStatus, Resque
from pyresque.backends.failure import CallbackFailureStore, Multiple
from pyresque.core.worker.child import result_json
from pyresque.testing import drain
from tests.unit.cli_support import run, run_json


class Report:
    """A value JSON cannot carry."""


def returns_report() -> Report:
    return Report()


def returns_set() -> set[int]:
    return {1, 2}


def boom(n: int) -> None:
    raise ValueError(f"boom {n}")


def _raw_status(app: Resque, job_id: str) -> Any:
    raw = app.backend.client.get(f"resque:job:{job_id}:status")  # type: ignore[attr-defined]
    return json.loads(raw)


@pytest.fixture
def app() -> Iterator[Resque]:
    resque = Resque("fakeredis://")
    for fn in (returns_report, returns_set, boom):
        resque.job(fn, name=fn.__name__)
    yield resque
    resque.close()


def test_unserializable_result_keeps_its_type_name_and_logs_once(
    app: Resque, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = app.enqueue("q", returns_report, track_status=True)
    with caplog.at_level(logging.WARNING):
        drain(app)
    status = app.tracked(job_id).get()
    assert status is not None and status.status is JobStatus.COMPLETE
    name = f"{__name__}.Report"
    assert status.result == {"unserializable": name}
    assert _raw_status(app, job_id)["result"] == {"unserializable": name}  # valid JSON
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and name in r.getMessage()]
    assert len(warnings) == 1


def test_builtin_type_is_named_bare(app: Resque) -> None:
    job_id = app.enqueue("q", returns_set, track_status=True)
    drain(app)
    status = app.tracked(job_id).get()
    assert status is not None and status.result == {"unserializable": "set"}


def test_fork_child_encodes_the_result_the_same_way() -> None:
    assert json.loads(result_json(Report())) == {"unserializable": f"{__name__}.Report"}
    assert json.loads(result_json({"a": [1, 2.5]})) == {"a": [1, 2.5]}
    assert result_json(None) == "null"


def _fail(app: Resque, *ids: str) -> list[str]:
    for job_id in ids:
        app.enqueue("q", boom, 1, job_id=job_id)
    drain(app, raise_errors=False)
    return list(ids)


def test_find_returns_index_and_record_by_job_id(app: Resque) -> None:
    _fail(app, "a1", "b2", "c3")
    ((index, record),) = app.failures.find("b2")
    assert index == 1
    assert record.payload["id"] == "b2" and record.exception == "ValueError" and record.error == "boom 1"
    assert app.failures.find("nope") == []


def test_find_returns_every_failure_of_a_requeued_job_oldest_first(app: Resque) -> None:
    _fail(app, "x1", "y2")
    app.failures.requeue(0)
    drain(app, raise_errors=False)  # x1 fails again
    assert [i for i, _ in app.failures.find("x1")] == [0, 2]


def test_find_scans_only_the_most_recent_limit(app: Resque) -> None:
    _fail(app, "old", "n1", "n2")
    assert app.failures.find("old", limit=2) == []
    assert [i for i, _ in app.failures.find("old", limit=3)] == [0]
    assert [i for i, _ in app.failures.find("old", limit=None)] == [0]


def test_find_does_not_match_an_id_elsewhere_in_the_record(app: Resque) -> None:
    record = FailureRecord.from_exception(
        ValueError('"z9"'), payload={"class": "A", "args": ["z9"], "id": "other"}, queue="q", worker="w"
    )
    app.failures.save(record)
    assert app.failures.find("z9") == []
    assert [i for i, _ in app.failures.find("other")] == [0]


def test_find_on_the_multi_queue_store_uses_global_indexes() -> None:
    resque = Resque("fakeredis://", failure_backend="redis_multi_queue")
    resque.job(boom, name="boom")
    try:
        for queue, job_id in (("b", "in-b"), ("a", "in-a1"), ("a", "in-a2")):
            resque.enqueue(queue, boom, 1, job_id=job_id)
        drain(resque, raise_errors=False)
        found = resque.failures.find("in-b")
        assert [(i, r.queue) for i, r in found] == [(2, "b")]  # lists in name order: a_failed, b_failed
        assert [r.payload["id"] for r in resque.failures.all(found[0][0], 1)] == ["in-b"]
        assert [i for i, _ in resque.failures.find("in-a1", limit=1)] == []
    finally:
        resque.close()


def test_find_through_multiple_and_callback_stores() -> None:
    seen: list[FailureRecord] = []
    resque = Resque("fakeredis://")
    resque.job(boom, name="boom")
    try:
        primary = resque.failures
        resque.backend.failures = Multiple(primary, CallbackFailureStore(seen.append))
        _fail(resque, "m1")
        assert [i for i, _ in resque.failures.find("m1")] == [0]
        assert CallbackFailureStore(seen.append).find("m1") == []
    finally:
        resque.close()


@pytest.fixture
def url() -> str:
    return f"fakeredis://cli-{uuid.uuid4().hex}"


def test_cli_failed_show_by_job_id(url: str) -> None:
    resque = Resque(url)
    resque.job(boom, name="boom")
    try:
        _fail(resque, "j1", "j2")
        out = run(url, "failed", "show", "--id", "j2")
        assert out.exit_code == 0, out.output
        assert "index:      1" in out.output and "boom 1" in out.output and '"id": "j2"' in out.output
        data = run_json(url, "failed", "show", "--id", "j2")
        assert [(d["index"], d["payload"]["id"]) for d in data] == [(1, "j2")]
        missing = run(url, "failed", "show", "--id", "nope")
        assert missing.exit_code == 1 and "no failure of job nope" in missing.output
        both = run(url, "failed", "show", "0", "--id", "j1")
        assert both.exit_code == 2
        by_index = run_json(url, "failed", "show", "0")
        assert by_index["index"] == 0 and by_index["payload"]["id"] == "j1"
    finally:
        resque.close()


@pytest.mark.redis
def test_fork_worker_on_redis_names_the_type_and_find_works(redis_url: str) -> None:
    """Fork mode (the child encodes the result) on a real redis-server; find there too."""
    from pyresque import Worker

    resque = Resque(redis_url)
    for fn in (returns_report, boom):
        resque.job(fn, name=fn.__name__)
    try:
        done = resque.enqueue("q", returns_report, track_status=True)
        resque.enqueue("q", boom, 2, job_id="on-redis")
        Worker(resque, "q", mode="fork", burst=True, heartbeat_interval=0).work()
        status = resque.tracked(done).get()
        assert status is not None and status.status is JobStatus.COMPLETE
        assert status.result == {"unserializable": f"{__name__}.Report"}
        ((index, record),) = resque.failures.find("on-redis")
        assert index == 0 and record.error == "boom 2"
    finally:
        resque.close()
