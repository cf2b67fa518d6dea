"""The job as data: payload shape, validation of what comes back."""

from __future__ import annotations

import pytest

from pyresque import InvalidJobError, InvalidQueueName, Job
from pyresque.core.job import validate_queue_name


def test_payload_fields_are_in_wire_order() -> None:
    """class, args, id, then the other fields: php-resque's order."""
    job = Job("q", "My_Job", (1, "x"), id="a" * 32, extra={"queue_time": 1.5})
    assert list(job.to_payload()) == ["class", "args", "id", "queue_time"]


def test_new_jobs_get_32_hex_ids() -> None:
    """Job.new gives a fresh 32-hex id each time, and records the enqueue time."""
    a, b = Job.new("q", "X"), Job.new("q", "X")
    assert a.id != b.id
    assert a.id is not None and len(a.id) == 32 and int(a.id, 16) >= 0
    assert isinstance(a.extra["queue_time"], float)


def test_foreign_fields_survive_a_round_trip() -> None:
    """Unknown payload fields (node's queue, PHP's prefix) are kept in order."""
    payload = {"class": "add", "queue": "math", "args": [1, 2], "prefix": ""}
    job = Job.from_payload(payload, "math")
    assert job.to_payload() == {"class": "add", "args": [1, 2], "queue": "math", "prefix": ""}


def test_a_non_string_id_is_kept_as_a_field() -> None:
    """An integer id is not a pyresque id but is not dropped either."""
    job = Job.from_payload({"class": "X", "args": [], "id": 7}, "q")
    assert job.id is None and job.to_payload()["id"] == 7


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2], "JSON object"),
        ("text", "JSON object"),
        ({"args": []}, "no job class"),
        ({"class": "", "args": []}, "no job class"),
        ({"class": 5, "args": []}, "no job class"),
        ({"class": "X", "args": {"a": 1}}, "args must be a list"),
        ({"class": "X", "args": "1,2"}, "args must be a list"),
    ],
)
def test_invalid_payloads_are_rejected_with_a_reason(payload: object, message: str) -> None:
    """Payloads that are not jobs raise InvalidJobError saying why."""
    with pytest.raises(InvalidJobError, match=message):
        Job.from_payload(payload, "q")


def test_missing_args_means_no_arguments() -> None:
    """A payload without args (some hand-written ones) has no arguments."""
    assert Job.from_payload({"class": "X"}, "q").args == ()


@pytest.mark.parametrize("name", ["", " q", "q ", "a,b", "*", "bad\nname", 5, None])
def test_unusable_queue_names_are_rejected(name: object) -> None:
    """Empty, padded, comma, '*', control characters and non-strings are refused."""
    with pytest.raises(InvalidQueueName):
        validate_queue_name(name)


@pytest.mark.parametrize("name", ["default", "high:priority", "jobs/images", "é"])
def test_ordinary_queue_names_are_accepted(name: str) -> None:
    """Names Resque users type are fine."""
    assert validate_queue_name(name) == name


def test_queue_time_is_never_an_integral_float(monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole-second clock still gives a fractional queue_time (node re-encodes 1.0 as 1)."""
    import pyresque.core.job as job_module

    monkeypatch.setattr(job_module.time, "time", lambda: 1795454611.0)
    value = job_module.queue_time()
    assert value != int(value) and abs(value - 1795454611.0) < 1e-5
    assert Job.new("q", "X").extra["queue_time"] == value
