"""Golden bytes: every value pyresque writes, compared with the spec's samples.

Samples are quoted from the wire-format spec (verified there against Ruby Resque,
php-resque and node-resque). A change here is a wire-format change.
"""

from __future__ import annotations

import json

import pytest

from pyresque import FailureRecord, Job, Resque
from pyresque.backends.fake import FakeBackend
from pyresque.backends.redis.broker import waiting_status_json
from pyresque.backends.redis.failure import encode_failure
from pyresque.backends.redis.keys import Keys
from pyresque.core import timefmt
from pyresque.core.status import JobStatus

RUBY_FAILURE = (
    '{"failed_at":"2026/11/23 17:23:27 UTC","payload":{"class":"Foo::Bar","args":["fail"]},'
    '"exception":"ArgumentError","error":"boom é/x","backtrace":["t1.rb:7:in `perform\'"],'
    '"worker":"vm:14936:high,low","queue":"high"}'
)


def test_ruby_payload_bytes() -> None:
    """A job without id or extras is exactly Ruby's {"class","args"}."""
    job = Job("high", "Foo::Bar", (1, "a/b", "é", None, {"k": [True]}))
    data = Resque("fakeredis://").encode(job)
    assert data == '{"class":"Foo::Bar","args":[1,"a/b","é",null,{"k":[true]}]}'.encode()


def test_enqueued_payload_is_php_resque_shaped() -> None:
    """enqueue writes class, args, id (32 hex), queue_time: php-resque's fields and order."""
    app = Resque("fakeredis://")
    job_id = app.enqueue("high", "My_Job", {"k": "v"})
    raw = app.backend.broker.peek("high")[0]
    expected_head = f'{{"class":"My_Job","args":[{{"k":"v"}}],"id":"{job_id}","queue_time":'
    assert raw.decode().startswith(expected_head)
    assert list(json.loads(raw)) == ["class", "args", "id", "queue_time"]


def test_ruby_failure_record_bytes() -> None:
    """The spec's verified Ruby failure sample is reproduced byte for byte."""
    record = FailureRecord(
        failed_at="2026/11/23 17:23:27 UTC",
        payload={"class": "Foo::Bar", "args": ["fail"]},
        exception="ArgumentError",
        error="boom é/x",
        backtrace=["t1.rb:7:in `perform'"],
        worker="vm:14936:high,low",
        queue="high",
    )
    assert encode_failure(record) == RUBY_FAILURE.encode()
    assert FailureRecord.from_dict(json.loads(RUBY_FAILURE)) == record


def test_failure_from_exception_uses_ruby_time_format() -> None:
    """failed_at is '%Y/%m/%d %H:%M:%S UTC' and exception is the class name."""
    try:
        raise ValueError("nope")
    except ValueError as exc:
        rec = FailureRecord.from_exception(exc, payload={"class": "X", "args": []}, queue="q", worker="w")
    assert rec.exception == "ValueError" and rec.error == "nope"
    assert timefmt.parse_any(rec.failed_at) is not None
    assert rec.failed_at.endswith(" UTC") and rec.failed_at[4] == "/"
    assert rec.backtrace and rec.backtrace[-1].endswith(
        "in `test_failure_from_exception_uses_ruby_time_format'"
    )


def test_requeued_failure_gains_retried_at_last() -> None:
    """Requeue appends retried_at after Ruby's seven fields, as Ruby does."""
    backend = FakeBackend()
    backend.client.rpush(backend.keys.failed, RUBY_FAILURE.encode())
    backend.failures.requeue(0)
    entry = json.loads(backend.client.lindex(backend.keys.failed, 0))  # type: ignore[arg-type]
    assert list(entry)[-1] == "retried_at"
    assert backend.client.lrange(backend.keys.queue("high"), 0, -1) == [
        b'{"class":"Foo::Bar","args":["fail"]}'
    ]


def test_status_json_shapes() -> None:
    """WAITING at create and later states in resque/php-resque's status shape."""
    assert waiting_status_json(1795454611) == (
        b'{"status":1,"updated":1795454611,"started":1795454611,"result":null}'
    )
    backend = FakeBackend()
    backend.client.set(backend.keys.status("abc"), waiting_status_json(1795454611))
    backend.statuses.update("abc", JobStatus.COMPLETE, result=[1, "é"])
    raw = backend.client.get(backend.keys.status("abc"))
    data = json.loads(raw)  # type: ignore[arg-type]
    assert list(data) == ["status", "updated", "started", "result"]
    assert data["status"] == 4 and data["started"] == 1795454611 and data["result"] == [1, "é"]


def test_chrisboulton_status_without_result_is_read() -> None:
    """A php-resque (chrisboulton) status without result or started is read."""
    backend = FakeBackend()
    backend.client.set(backend.keys.status("x"), b'{"status":2,"updated":1795454611}')
    info = backend.statuses.get("x")
    assert info is not None and info.status is JobStatus.RUNNING and info.started is None


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        (lambda k: k.queues, "resque:queues"),
        (lambda k: k.queue("high"), "resque:queue:high"),
        (lambda k: k.failed, "resque:failed"),
        (lambda k: k.workers, "resque:workers"),
        (lambda k: k.worker("h:1:q"), "resque:worker:h:1:q"),
        (lambda k: k.worker_started("h:1:q"), "resque:worker:h:1:q:started"),
        (lambda k: k.heartbeats, "resque:workers:heartbeat"),
        (lambda k: k.stat("processed"), "resque:stat:processed"),
        (lambda k: k.stat("failed:h:1:q"), "resque:stat:failed:h:1:q"),
        (lambda k: k.status("abc"), "resque:job:abc:status"),
        (lambda k: k.delayed_schedule, "resque:delayed_queue_schedule"),
        (lambda k: k.delayed(1795454611), "resque:delayed:1795454611"),
        (lambda k: k.timestamps('{"class":"A"}'), 'resque:timestamps:{"class":"A"}'),
        (lambda k: k.scheduler_lock(), "resque:resque:resque_scheduler_master_lock"),
        (lambda k: k.failed_queue("high"), "resque:high_failed"),
        (lambda k: k.pruning_lock, "resque:pruning_dead_workers_in_progress"),
    ],
)
def test_key_names(method: object, expected: str) -> None:
    """Every key is Resque's."""
    assert method(Keys("resque")) == expected  # type: ignore[operator]


def test_namespaces_prefix_every_key() -> None:
    """A namespace 'resque:GitHub' gives Ruby's 'resque:GitHub:queue:x'."""
    keys = Keys("resque:GitHub:")
    assert keys.queue("x") == "resque:GitHub:queue:x"
    assert keys.scheduler_lock() == "resque:GitHub:resque:GitHub:resque_scheduler_master_lock"


@pytest.mark.parametrize(
    ("raw", "queue", "class_name", "args"),
    [
        ('{"class":"Foo::Bar","args":[1,"a/b"]}', "high", "Foo::Bar", (1, "a/b")),
        ('{"class":"add","queue":"math","args":[1,2]}', "math", "add", (1, 2)),
        (
            '{"class":"My_Job","args":[{"k":"v"}],"id":"0123456789abcdef0123456789abcdef",'
            '"queue_time":1795454611.342824}',
            "q",
            "My_Job",
            ({"k": "v"},),
        ),
        ('{"class":"My_Job","args":[null],"id":"x","prefix":"","queue_time":1.5}', "q", "My_Job", (None,)),
        ('{"class":"m.C","args":[1], "enqueue_timestamp": 1.0}', "q", "m.C", (1,)),
        ('{"class":"App\\\\Jobs\\\\Foo","args":[[]]}', "q", "App\\Jobs\\Foo", ([],)),
    ],
)
def test_foreign_payloads_decode(raw: str, queue: str, class_name: str, args: tuple[object, ...]) -> None:
    """Ruby, node, php-resque (both forks) and pyres payloads all decode to jobs."""
    job = Resque("fakeredis://").decode(raw.encode(), queue)
    assert (job.class_name, job.args) == (class_name, args)


def test_time_formats() -> None:
    """run_at, started, heartbeat and failed_at are written in Ruby's formats."""
    t = 1795454607.9
    assert timefmt.utc_iso_z(t) == "2026-11-23T17:23:27Z"
    assert timefmt.ruby_time_to_s(t) == "2026-11-23 17:23:27 +0000"
    assert timefmt.heartbeat_time(t) == "2026-11-23T17:23:27+00:00"
    assert timefmt.ruby_failed_at(t) == "2026/11/23 17:23:27 UTC"
    for text in (
        "2026/11/23 17:23:27 UTC",
        "Mon Nov 23 17:23:31 UTC 2026",
        "2026-11-23T17:23:31+00:00",
        "Mon Nov 23 2026 17:23:37 GMT+0000 (Coordinated Universal Time)",
        "2026/11/23 17:23:27",
        "1795454611",
    ):
        parsed = timefmt.parse_any(text)
        assert parsed is not None and (parsed.year, parsed.month, parsed.day) == (2026, 11, 23), text
