"""Poison payloads against real worker processes on a real redis-server: no payload
stops a worker, a new worker or ``pyresque prune``; each becomes one readable record."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyresque import Resque
from tests.worker_proc import ROOT, client_of, start_worker, stop, trace_lines

pytestmark = pytest.mark.redis

MODES = ["fork", "fork-every", "inprocess"]


def nested(depth: int, inner: str = "1") -> bytes:
    return ("[" * depth + inner + "]" * depth).encode()


#: Raw bytes pushed as they are: none is a job a worker may run.
POISON: list[bytes] = [
    b'{"class":"Nope","args":[NaN]}',
    b'{"class":"Nope","args":[Infinity]}',
    b'{"class":"Nope","args":[-Infinity]}',
    b'{"class":"Nope","args":[1e999]}',
    b'{"class":"Nope","args":[' + nested(2000) + b"]}",  # 4 KB, past Redis's own cjson limit
    b'{"class":"Nope","args":[' + nested(900) + b"]}",  # within it: held as is
    b'{"class":"Nope","args":[' + nested(150) + b"]}",
    nested(2000),
    b'{"class":"Nope","args":["\\ud800"]}',
    b'{"class":"Nope","args":["\xff\xfe"]}',
    b'{"class":"Nope","args":["' + b"x" * 2_000_000 + b'",NaN]}',  # huge
    b"null",
    b"true",
    b"false",
    b"42",
    b"-1.5",
    b'"a string"',
    b"[1,2]",
    b'{"args":[]}',
    b'{"class":5,"args":[]}',
    b'{"class":"Nope","args":{"a":1}}',
    b"\x00\x01garbage",
]


def strict_json(raw: bytes) -> Any:
    """Parse as Ruby or PHP would: UTF-8, and no NaN or infinities."""

    def refuse(name: str) -> Any:
        raise ValueError(f"not JSON: {name}")

    return json.loads(raw.decode("utf-8"), parse_constant=refuse)


def kept_raw(payload: dict[str, Any]) -> bytes:
    assert payload["class"] is None, payload
    return payload["raw"].encode("utf-8") if "raw" in payload else bytes.fromhex(payload["raw_hex"])


def failed_entries(app: Resque) -> list[bytes]:
    return list(client_of(app).lrange("resque:failed", 0, -1))  # type: ignore[arg-type]


def leftover_worker_keys(app: Resque) -> list[bytes]:
    return [
        k for k in client_of(app).scan_iter("resque:worker:*") if not k.endswith((b":started", b":lease"))
    ]


@pytest.mark.parametrize("mode", MODES)
def test_poison_payloads_fail_one_record_each_and_the_worker_goes_on(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    """Each poison payload becomes exactly one failure record, strict JSON keeping the
    raw bytes; the worker exits 0 and the good job after them runs."""
    client = client_of(app)
    client.sadd("resque:queues", "q")
    for raw in POISON:
        client.rpush("resque:queue:q", raw)
    app.enqueue("q", "record", "after")
    trace = tmp_path / "t"
    log = tmp_path / "log"
    proc = start_worker(redis_url, "q", "--burst", "--mode", mode, trace=trace, log=log)
    assert stop(proc, 120) == 0, log.read_text(errors="replace")[-3000:]
    entries = failed_entries(app)
    assert len(entries) == len(POISON)
    for raw, entry in zip(POISON, entries, strict=True):
        data = strict_json(entry)
        assert kept_raw(data["payload"]) == raw
        assert data["exception"] in ("pyresque.DecodeError", "pyresque.InvalidJobError")
        assert data["queue"] == "q" and data["error"]
    assert trace_lines(trace) == ["after"]
    assert client.llen("resque:queue:q") == 0
    assert int(client.get("resque:stat:failed") or 0) == len(POISON)
    assert leftover_worker_keys(app) == []


@pytest.mark.parametrize("mode", MODES)
def test_failing_msgpack_jobs_with_nan_or_bytes_get_strict_json_records(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    """NaN and bytes are msgpack, so these jobs run; when they fail, the record (JSON)
    keeps the payload as text or hex instead of stopping the worker."""
    msgpack = pytest.importorskip("msgpack")
    client = client_of(app)
    client.sadd("resque:queues", "q")
    jobs = [
        {"class": "boom", "args": [float("nan")]},
        {"class": "boom", "args": [float("inf"), b"\x00\xffbytes"]},
        {"class": "boom", "args": [{"k": float("-inf")}]},
    ]
    for job in jobs:
        client.rpush("resque:queue:q", msgpack.packb(job, use_bin_type=True))
    app.enqueue("q", "record", "after")
    trace = tmp_path / "t"
    log = tmp_path / "log"
    proc = start_worker(redis_url, "q", "--burst", "--mode", mode, trace=trace, log=log)
    assert stop(proc, 120) == 0, log.read_text(errors="replace")[-3000:]
    entries = [strict_json(e) for e in failed_entries(app)]
    assert [e["exception"] for e in entries] == ["RuntimeError"] * 3
    assert entries[0]["payload"] == {"class": None, "raw": '{"class":"boom","args":[NaN]}'}
    kept = msgpack.unpackb(bytes.fromhex(entries[1]["payload"]["raw_hex"]), raw=False)
    assert kept["args"][1] == b"\x00\xffbytes"
    assert entries[2]["payload"]["raw"] == '{"class":"boom","args":[{"k":-Infinity}]}'
    assert trace_lines(trace) == ["after"]
    assert leftover_worker_keys(app) == []


def dead_pid() -> int:
    """A pid that was this host's and is gone now."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


#: Held records as the reserve script writes them (with and without the reservation
#: token), the poison payload embedded as the queue had it, or kept as hex.
HELD_PAYLOADS: list[bytes] = [
    b'{"class":"Nope","args":[NaN]}',
    b'{"class":"Nope","args":[Infinity,-Infinity]}',
    b'{"class":"Nope","args":[' + nested(900) + b"]}",
    b'{"class":"Nope","args":["\xff\xfe"]}',
]
DEEP_HEX = nested(2000)


def plant_dead_workers(app: Resque) -> dict[str, bytes]:
    """Register dead workers (this host, a gone pid, a stale heartbeat), each holding a
    poison job; returns worker id -> the raw payload it holds."""
    client = client_of(app)
    host = socket.gethostname()
    planted: dict[str, bytes] = {}
    bodies = [(p, p) for p in HELD_PAYLOADS]
    bodies.append((b'{"class":null,"raw_hex":"' + DEEP_HEX.hex().encode() + b'"}', DEEP_HEX))
    for n, (body, raw) in enumerate(bodies):
        pid = dead_pid()
        worker_id = f"{host}:{pid}:q{n}"
        tail = b"}" if n % 2 else b',"reservation":"' + os.urandom(8).hex().encode() + b'"}'
        record = (
            b'{"queue":"q","run_at":"2020-01-01T00:00:00Z","payload":'
            + body
            + b',"worker":"'
            + f"{host}:{pid}".encode()
            + b'"'
            + tail
        )
        client.sadd("resque:workers", worker_id)
        client.hset("resque:workers:heartbeat", worker_id, "2000-01-01T00:00:00+00:00")
        client.set(f"resque:worker:{worker_id}", record)
        planted[worker_id] = raw
    return planted


def assert_recovered(app: Resque, planted: dict[str, bytes]) -> None:
    entries = [strict_json(e) for e in failed_entries(app)]
    assert sorted(e["worker"] for e in entries) == sorted(planted)
    for entry in entries:
        assert entry["exception"] == "pyresque.WorkerLost"
        assert entry["queue"] == "q"
        assert kept_raw(entry["payload"]) == planted[entry["worker"]]
    assert leftover_worker_keys(app) == []
    assert not set(planted) & {m.decode() for m in client_of(app).smembers("resque:workers")}  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", MODES)
def test_a_starting_worker_recovers_held_poison_jobs_of_dead_workers(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    """A new worker prunes the dead workers holding poison jobs (recorded failed, raw
    bytes kept), then works: it exits 0 and a good job runs."""
    planted = plant_dead_workers(app)
    app.enqueue("q", "record", "after")
    trace = tmp_path / "t"
    log = tmp_path / "log"
    proc = start_worker(redis_url, "q", "--burst", "--mode", mode, trace=trace, log=log)
    assert stop(proc, 120) == 0, log.read_text(errors="replace")[-3000:]
    assert_recovered(app, planted)
    assert trace_lines(trace) == ["after"]


@pytest.mark.parametrize("recover", ["fail", "requeue"])
def test_pyresque_prune_recovers_held_poison_jobs(app: Resque, redis_url: str, recover: str) -> None:
    """``pyresque prune`` exits 0 and records each held poison job as failed (never
    requeued: it is not a job), raw bytes kept."""
    planted = plant_dead_workers(app)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-m", "pyresque", "prune", "--redis", redis_url, "--json", "--recover", recover],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    assert sorted(json.loads(done.stdout)["pruned"]) == sorted(planted)
    assert_recovered(app, planted)
    assert client_of(app).llen("resque:queue:q") == 0
