"""Poison payloads: strict, total decoding; failure records that always encode; held
records that always recover. Nothing here may raise anything but a bad-payload error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyresque import DecodeError, EncodeError, InvalidJobError, Resque
from pyresque.backends.redis.failure import decode_failure, encode_failure
from pyresque.core.failure import FailureRecord
from pyresque.core.worker import Worker
from pyresque.core.worker.perform import bad_payload_record, decode_job, is_bad_payload
from pyresque.core.worker.pruning import _split_record, prune_dead_workers
from pyresque.serializers import json as json_serializer
from pyresque.serializers import load_any
from pyresque.serializers.json import JsonSerializer
from pyresque.serializers.msgpack import MsgpackSerializer
from tests import worker_jobs

#: The nesting limit (read with getattr so that this file can run against releases before it).
MAX_DEPTH: int = getattr(json_serializer, "MAX_DEPTH", 100)


def strict_json(raw: bytes | str) -> Any:
    """Parse as a strict reader does (Ruby, PHP): NaN and infinities refused."""

    def refuse(name: str) -> Any:
        raise ValueError(f"not JSON: {name}")

    return json.loads(raw, parse_constant=refuse)


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def deep_list(depth: int) -> Any:
    """A list nested ``depth`` levels, built without recursion."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


#: Payloads that are not jobs, each with what the worker must record.
POISON: list[bytes] = [
    b'{"class":"Nope","args":[NaN]}',
    b'{"class":"Nope","args":[Infinity]}',
    b'{"class":"Nope","args":[-Infinity]}',
    b'{"class":"Nope","args":[1e999]}',
    b'{"class":"Nope","args":[' + nested(2000).encode() + b"]}",
    nested(2000).encode(),
    b'{"class":"Nope","args":[' + nested(300).encode() + b"]}",
    b'{"class":"Nope","args":["\\ud800"]}',
    b'{"class":"Nope","args":["\xff\xfe"]}',
    b"null",
    b"true",
    b"false",
    b"42",
    b"-1.5",
    b'"a string"',
    b"[1,2]",
    b'{"args":[]}',
    b'{"class":5,"args":[]}',
    b'{"class":["x"],"args":[]}',
    b'{"class":"Nope","args":{"a":1}}',
    b"",
    b"\x00\x01garbage",
]


@pytest.fixture
def wapp() -> Iterator[Resque]:
    """A fakeredis app with the worker job fixtures registered."""
    app = Resque("fakeredis://")
    worker_jobs.register(app)
    yield app
    app.close()


def failed_entries(app: Resque) -> list[bytes]:
    client = app.backend.client  # type: ignore[attr-defined]
    return list(client.lrange(app.backend.keys.failed, 0, -1))  # type: ignore[attr-defined]


def assert_keeps_raw(entry: bytes, raw: bytes) -> dict[str, Any]:
    """The failure entry is strict UTF-8 JSON whose payload keeps ``raw`` (text or hex)."""
    data: dict[str, Any] = strict_json(entry.decode("utf-8"))
    payload = data["payload"]
    assert payload["class"] is None, payload
    kept = payload["raw"].encode("utf-8") if "raw" in payload else bytes.fromhex(payload["raw_hex"])
    assert kept == raw
    return data


# -- decoding -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"[NaN]", b"[Infinity]", b"[-Infinity]", b'{"a":NaN}', b"[1e999]", b"[-1e400]", b"NaN"],
)
def test_json_refuses_nan_and_infinities(raw: bytes) -> None:
    """NaN, Infinity, -Infinity and overflowing numbers are not JSON: DecodeError, raw kept."""
    with pytest.raises(DecodeError) as info:
        JsonSerializer().loads(raw)
    assert info.value.raw == raw


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 300, 2000, 100_000])
def test_json_refuses_nesting_too_deep_without_recursion_error(depth: int) -> None:
    """Nesting past MAX_DEPTH is a DecodeError (never RecursionError), whatever the depth;
    MAX_DEPTH levels decode, and brackets inside strings do not count as nesting."""
    raw = nested(depth).encode()
    with pytest.raises(DecodeError, match="deep") as info:
        load_any(raw, JsonSerializer())
    assert info.value.raw == raw
    assert JsonSerializer().loads(nested(MAX_DEPTH).encode()) == json.loads(nested(MAX_DEPTH))
    text = json.dumps({"class": "X", "args": ["[" * 5000, "{" * 5000, [[["x"]]]]})
    assert JsonSerializer().loads(text.encode())["args"][0] == "[" * 5000


def test_json_refuses_lone_surrogates_but_reads_pairs() -> None:
    """A lone surrogate escape cannot be written back as UTF-8; a pair is one character."""
    with pytest.raises(DecodeError, match="surrogate"):
        JsonSerializer().loads(b'["\\ud800"]')
    assert JsonSerializer().loads(b'["\\ud83d\\ude00", "\\\\ud800"]') == ["\U0001f600", "\\ud800"]


_TEXT = st.text(alphabet=st.sampled_from([*'[]{}"\\,:a\n', "é", "\U0001f600"]), max_size=6)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _TEXT,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(_TEXT, kids, max_size=3),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(_JSON, st.booleans())
def test_the_text_nesting_check_agrees_with_the_decoded_depth(value: Any, ascii_only: bool) -> None:
    """The byte-level depth check is exact, whatever brackets, quotes and escapes the
    strings hold."""
    from pyresque.serializers.json import nesting_depth, text_nests_deeper

    text = json.dumps(value, ensure_ascii=ascii_only).encode()
    depth = nesting_depth(value, 1000)
    for limit in range(8):
        assert text_nests_deeper(text, limit) == (depth > limit), (text, limit, depth)


def test_json_encoding_refuses_what_decoding_would_refuse() -> None:
    """Enqueueing a value no worker would accept fails at once, as EncodeError."""
    with pytest.raises(EncodeError, match="deeper"):
        JsonSerializer().dumps({"class": "X", "args": json.loads(nested(MAX_DEPTH))})
    with pytest.raises(EncodeError, match="surrogate"):
        JsonSerializer().dumps({"class": "X", "args": ["\ud800"]})


def test_every_poison_payload_is_a_bad_payload_with_a_readable_record(wapp: Resque) -> None:
    """For each poison payload, decode_job raises only DecodeError / InvalidJobError,
    and the record for it is strict JSON that keeps the raw bytes."""
    worker = Worker(wapp, "q", mode="inprocess")
    problems = []
    for raw in POISON:
        try:
            decode_job(worker, raw, "q")
            problems.append(f"{raw[:60]!r}: decoded as a job")
            continue
        except (DecodeError, InvalidJobError) as exc:
            assert is_bad_payload(exc)
            record = bad_payload_record(worker, raw, "q", exc)
        except BaseException as exc:  # what must never come out of decoding
            problems.append(f"{raw[:60]!r}: {exc!r:.100}")
            continue
        data = assert_keeps_raw(encode_failure(record), raw)
        assert data["exception"] in ("pyresque.DecodeError", "pyresque.InvalidJobError")
        assert 0 < len(data["error"]) < 1000
    assert problems == []


class Exploding:
    """A custom serializer whose loads fails in ways a serializer should not."""

    name = "exploding"

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def dumps(self, obj: Any, /) -> bytes:
        return json.dumps(obj).encode()

    def loads(self, data: bytes, /) -> Any:
        raise self.exc


@pytest.mark.parametrize("exc", [RecursionError("deep"), TypeError("oops"), KeyError("k")])
def test_load_any_is_total_whatever_a_custom_serializer_raises(exc: BaseException) -> None:
    """A custom serializer's own failure becomes a DecodeError (the JSON fallback still reads JSON)."""
    with pytest.raises(DecodeError):
        load_any(b"\x00garbage", Exploding(exc))  # type: ignore[arg-type]
    assert load_any(b'{"class":"X"}', Exploding(exc)) == {"class": "X"}  # type: ignore[arg-type]


# -- msgpack --------------------------------------------------------------------------


def test_msgpack_refuses_deep_nesting_and_reads_non_string_class_as_invalid(wapp: Resque) -> None:
    """Deep msgpack nesting is a DecodeError; a non-string class an InvalidJobError."""
    import msgpack

    ser = MsgpackSerializer()
    raw = msgpack.packb({"class": "Nope", "args": [deep_list(300)]})
    with pytest.raises(DecodeError, match="deep"):
        load_any(raw, ser)
    with pytest.raises(EncodeError, match="deeper"):
        ser.dumps({"class": "Nope", "args": [deep_list(300)]})
    worker = Worker(wapp, "q", mode="inprocess")
    with pytest.raises(InvalidJobError):
        decode_job(worker, ser.dumps({"class": 7, "args": []}), "q")
    assert ser.loads(ser.dumps({"class": "X", "args": [[[1]]]}))["args"] == [[[1]]]


def test_msgpack_nan_and_bytes_payloads_fail_into_strict_json_records(wapp: Resque) -> None:
    """NaN and bytes are msgpack; a failure record (JSON) keeps such a payload as text or hex."""
    ser = MsgpackSerializer()
    client = wapp.backend.client  # type: ignore[attr-defined]
    client.sadd(wapp.backend.keys.queues, "q")  # type: ignore[attr-defined]
    for args in ([float("nan")], [b"\x00\xffbin"], [float("-inf"), {"k": b"v"}]):
        client.rpush(wapp.backend.keys.queue("q"), ser.dumps({"class": "Nope", "args": args}))  # type: ignore[attr-defined]
    Worker(wapp, "q", mode="inprocess", burst=True, heartbeat_interval=0).work()
    entries = failed_entries(wapp)
    assert len(entries) == 3
    texts = [strict_json(e.decode("utf-8"))["payload"] for e in entries]
    assert texts[0] == {"class": None, "raw": '{"class":"Nope","args":[NaN]}'}
    assert ser.loads(bytes.fromhex(texts[1]["raw_hex"]))["args"] == [b"\x00\xffbin"]
    assert all(p["class"] is None for p in texts)


# -- failure records ------------------------------------------------------------------


def record_with(payload: Any, error: str = "boom") -> FailureRecord:
    return FailureRecord(
        failed_at="2026/01/01 00:00:00 UTC",
        payload=payload,
        exception="RuntimeError",
        error=error,
        backtrace=["a.py:1:in `f'"],
        worker="h:1:q",
        queue="q",
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"class": "Nope", "args": [float("nan")]},
        {"class": "Nope", "args": [float("inf"), float("-inf")]},
        {"class": "Nope", "args": [b"\x00bytes"]},
        {"class": "Nope", "args": [{1, 2}]},
        {"class": "Nope", "args": deep_list(3000)},
        {"class": "Nope", "args": ["\udc80"]},
        {"class": "Nope", "args": [object()]},
    ],
)
def test_encode_failure_never_raises_for_the_payload(payload: Any) -> None:
    """A record whose payload JSON cannot carry still encodes: strict UTF-8 JSON, the
    payload kept as text or hex (class null), the rest of the record intact."""
    for record in (
        record_with(payload),
        FailureRecord.from_exception(RuntimeError("boom"), payload=payload, queue="q", worker="w"),
    ):
        data = strict_json(encode_failure(record).decode("utf-8"))
        assert data["error"] == "boom" and data["queue"] == "q"
        assert data["payload"]["class"] in (None, "Nope")
        assert "raw" in data["payload"] or "raw_hex" in data["payload"] or data["payload"]["args"]


def test_nan_payload_is_kept_as_its_json_text() -> None:
    """The degraded payload of a NaN job is the text a Python client wrote."""
    record = FailureRecord.from_exception(
        ValueError("x"), payload={"class": "Nope", "args": [float("nan")]}, queue="q", worker="w"
    )
    assert record.payload == {"class": None, "raw": '{"class":"Nope","args":[NaN]}'}
    assert strict_json(encode_failure(record))["payload"] == record.payload


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message for you")


def test_record_building_survives_odd_exceptions() -> None:
    """An exception whose __str__ raises, or whose message holds a lone surrogate."""
    rec = FailureRecord.from_exception(
        Unprintable(), payload={"class": "X", "args": []}, queue="q", worker="w"
    )
    assert "cannot be shown" in rec.error
    rec = FailureRecord.from_exception(
        ValueError("bad \udc80 byte"), payload={"class": "X"}, queue="q", worker="w"
    )
    assert strict_json(encode_failure(rec))["error"] == "bad \\udc80 byte"
    assert (
        strict_json(encode_failure(record_with({"class": "X"}, error="raw \ud800")))["error"] == "raw \ud800"
    )


@pytest.mark.parametrize(
    "entry", [b'{"payload":{"class":"X","args":[NaN]},"queue":"q"}', nested(5000).encode()]
)
def test_unreadable_failure_entries_become_records_that_say_so(entry: bytes) -> None:
    """decode_failure is strict and total too (listing failures never crashes)."""
    record = decode_failure(entry)
    assert record.exception == "pyresque.DecodeError"
    assert record.payload["class"] is None


# -- held records ---------------------------------------------------------------------


def held(payload: bytes, *, tail: bytes = b',"worker":"h:1","reservation":"tok"}') -> bytes:
    """A ``worker:<id>`` value as the reserve script writes it around ``payload``."""
    return b'{"queue":"q\\"x","run_at":"2026-01-01T00:00:00Z","payload":' + payload + tail


@pytest.mark.parametrize(
    "payload",
    [
        b'{"class":"Nope","args":[NaN]}',
        b'{"class":"Nope","args":[Infinity],"worker":"w","reservation":"r"}',
        b'{"class":"Nope","args":[' + nested(990).encode() + b"]}",
        b'{"class":"Nope","args":["\xff"]}',
        b'{"class":"Nope","args":["\\ud800"]}',
    ],
)
@pytest.mark.parametrize("tail", [b',"worker":"h:1","reservation":"tok"}', b',"worker":"h:1"}', b"}"])
def test_split_record_keeps_the_exact_bytes_of_a_poison_payload(payload: bytes, tail: bytes) -> None:
    """A held record that is not strict JSON gives its queue and the payload's exact bytes."""
    queue, raw, recorded = _split_record(held(payload, tail=tail))
    assert queue == 'q"x'
    assert raw == payload
    assert encode_failure(record_with(recorded))  # encodable
    kept = recorded["raw"].encode() if "raw" in recorded else bytes.fromhex(recorded["raw_hex"])
    assert recorded["class"] is None and kept == payload


def test_split_record_of_hex_and_foreign_records() -> None:
    """raw_hex bodies (deep or binary payloads) come back as bytes; unknown layouts
    keep the whole record; good records are unchanged."""
    deep = nested(2000).encode()
    record = held(b'{"class":null,"raw_hex":"' + deep.hex().encode() + b'"}')
    assert _split_record(record) == ('q"x', deep, {"class": None, "raw": deep.decode()})
    assert _split_record(b"\xff{garbage")[1] == b"\xff{garbage"
    good = held(b'{"class":"X","args":[1, 2.50]}')
    assert _split_record(good) == ('q"x', b'{"class":"X","args":[1, 2.50]}', {"class": "X", "args": [1, 2.5]})


@pytest.mark.parametrize(
    "payload",
    [b'{"class":"Nope","args":[NaN]}', b'{"class":"Nope","args":[' + nested(990).encode() + b"]}", b"[NaN]"],
)
@pytest.mark.parametrize("recover", ["fail", "requeue"])
def test_pruning_recovers_a_poison_held_record(wapp: Resque, payload: bytes, recover: str) -> None:
    """A dead worker's held poison payload becomes one strict failure record (never
    requeued: it is not a job), and pruning goes on."""
    client = wapp.backend.client  # type: ignore[attr-defined]
    keys = wapp.backend.keys  # type: ignore[attr-defined]
    dead = "elsewhere:4242:q"
    client.sadd(keys.workers, dead)
    client.hset(keys.heartbeats, dead, "2000-01-01T00:00:00+00:00")
    client.set(keys.worker(dead), held(payload))
    pruner = Worker(wapp, "q", mode="inprocess", heartbeat_interval=1, prune_interval=60, recover=recover)
    assert dead in prune_dead_workers(pruner)
    (entry,) = failed_entries(wapp)
    data = assert_keeps_raw(entry, payload)
    assert data["exception"] == "pyresque.WorkerLost" and data["queue"] == 'q"x'
    assert client.get(keys.worker(dead)) is None
    assert client.llen(keys.queue('q"x')) == 0
