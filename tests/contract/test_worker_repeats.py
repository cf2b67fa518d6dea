"""What each worker step does when it is repeated after its reply was lost.

A lost reply is a step that ran on the server while the worker saw only an error; the
worker then repeats it with the same arguments (``Worker.with_backend``). Calling a
step twice with the same arguments is exactly that fault, on fakeredis and on a real
redis-server alike. Also: the late outcome of a job the worker no longer holds, and a
worker that lost its registration.
"""

from __future__ import annotations

import json
import time

from pyresque import Resque
from pyresque.backends.redis import RedisBackend
from pyresque.core import timefmt
from pyresque.core.failure import FailureRecord
from pyresque.core.reservation import NOT_HELD, NOTHING, RECORDED, Held, Reservation, Step, new_token

WID = "host:1:q"


def _reserve(
    backend: RedisBackend, token: str, run_at: str, pending: tuple[str, str | None] | None = None
) -> Step:
    return backend.workers.reserve(
        WID,
        ["q"],
        run_at,
        token=token,
        finish_previous=pending is not None,
        done_token=pending[0] if pending else "",
        done_job_id=pending[1] if pending else None,
        done_result={"ok": 1} if pending else None,
    )


def _stat(backend: RedisBackend, name: str) -> int:
    return backend.stats.get(name)


def test_fused_finish_and_reserve_repeated_takes_nothing_twice(app: Resque, backend: RedisBackend) -> None:
    """finish job N + reserve job N+1, run twice: N counted once, N+1 handed back (same
    bytes, same token), nothing else popped, nothing lost (the 81558c3 repeat deleted
    the record of N+1, which then never ran)."""
    a = app.enqueue("q", "Add", 1, 2, track_status=True)
    app.enqueue("q", "Add", 3, 4)
    app.enqueue("q", "Add", 5, 6)
    run_at = timefmt.utc_iso_z()
    t1 = new_token()
    first = _reserve(backend, t1, run_at)
    assert isinstance(first.taken, Reservation) and first.finished == NOTHING
    t2 = new_token()
    lost = _reserve(backend, t2, run_at, (t1, a))
    again = _reserve(backend, t2, run_at, (t1, a))
    assert lost.finished == again.finished == RECORDED
    assert again.taken == lost.taken and isinstance(again.taken, Reservation)
    assert json.loads(again.taken.payload)["args"] == [3, 4] and again.taken.token == t2
    assert _stat(backend, "processed") == 1
    assert app.size("q") == 1  # 5, 6 still queued
    assert app.tracked(a).status.name == "COMPLETE"
    record = json.loads(backend.client.get(backend.keys.worker(WID)))
    assert record["payload"]["args"] == [3, 4] and record["reservation"] == t2


def test_repeat_of_a_reserve_hands_back_a_raw_payload_byte_for_byte(backend: RedisBackend) -> None:
    """A payload that is not a JSON object is kept as raw_hex in the record; the repeat
    decodes it back to the exact bytes."""
    raw = b"\xff\x00not json\n{"
    backend.client.rpush(backend.keys.queue("q"), raw)
    run_at = timefmt.utc_iso_z()
    token = new_token()
    lost = _reserve(backend, token, run_at)
    again = _reserve(backend, token, run_at)
    assert isinstance(again.taken, Reservation) and again.taken.payload == raw
    assert isinstance(lost.taken, Reservation) and lost.taken.payload == raw


def test_finish_alone_repeated_counts_once(app: Resque, backend: RedisBackend) -> None:
    """done, run twice: counted once; the repeat reports NOT_HELD (the caller knows it
    repeated and reads that as done)."""
    a = app.enqueue("q", "Add", 1, 2)
    token = new_token()
    _reserve(backend, token, timefmt.utc_iso_z())
    assert backend.workers.done(WID, a, None, token=token) is True
    assert backend.workers.done(WID, a, None, token=token) is False
    assert _stat(backend, "processed") == 1
    assert backend.workers.held(WID) is None


def test_fail_repeated_writes_one_record(app: Resque, backend: RedisBackend) -> None:
    """fail, run twice: one failure record, stat:failed 1 (81558c3 wrote two)."""
    a = app.enqueue("q", "Add", 1, 2)
    token = new_token()
    step = _reserve(backend, token, timefmt.utc_iso_z())
    assert isinstance(step.taken, Reservation)
    payload = {"class": "Add", "args": [1, 2]}
    record = FailureRecord.from_exception(ValueError("boom"), payload=payload, queue="q", worker=WID)
    assert backend.workers.fail(WID, record, a, token=token) is True
    assert backend.workers.fail(WID, record, a, token=token) is False
    assert backend.failures.count() == 1
    assert (_stat(backend, "failed"), _stat(backend, "processed")) == (1, 1)


def test_outcome_of_a_job_pruned_away_is_not_written(app: Resque, backend: RedisBackend) -> None:
    """The worker was pruned (paused past the prune interval) and its job requeued; its
    late success and its late failure both write nothing and say NOT_HELD."""
    a = app.enqueue("q", "Add", 1, 2, track_status=True)
    token = new_token()
    step = _reserve(backend, token, timefmt.utc_iso_z())
    held = backend.workers.held(WID)
    assert held is not None and isinstance(step.taken, Reservation)
    assert backend.workers.recover(
        WID, held, mode="requeue", record=None, queue="q", payload=step.taken.payload, job_id=a
    )
    late = _reserve(backend, new_token(), timefmt.utc_iso_z(), (token, a))
    assert late.finished == NOT_HELD
    # the requeued job was taken again by the same step, under the new token: not lost
    assert isinstance(late.taken, Reservation) and json.loads(late.taken.payload)["id"] == a
    assert _stat(backend, "processed") == 0
    assert app.tracked(a).status.name != "COMPLETE"
    record = FailureRecord.from_exception(ValueError("late"), payload={}, queue="q", worker=WID)
    assert backend.workers.fail(WID, record, a, token=token) is False
    assert backend.failures.count() == 0


def test_a_record_with_another_token_is_held_not_finished(app: Resque, backend: RedisBackend) -> None:
    """A record under our id that carries another reservation (a previous process) is
    reported Held; finishing with our token does not touch it."""
    app.enqueue("q", "Add", 1, 2)
    other = new_token()
    _reserve(backend, other, timefmt.utc_iso_z())
    step = _reserve(backend, new_token(), timefmt.utc_iso_z(), (new_token(), None))
    assert step.finished == NOT_HELD and isinstance(step.taken, Held)
    assert backend.workers.held(WID) is not None


def test_reserve_restores_a_lost_registration(app: Resque, backend: RedisBackend) -> None:
    """Redis lost the worker's registration: the reserve that takes a job registers it
    again in the same step (workers set, started, heartbeat), so it can be pruned."""
    app.enqueue("q", "Add", 1, 2)
    client = backend.client
    assert not client.sismember(backend.keys.workers, WID)
    run_at = timefmt.utc_iso_z()
    _reserve(backend, new_token(), run_at)
    assert client.sismember(backend.keys.workers, WID)
    assert timefmt.parse_any(client.get(backend.keys.worker_started(WID)).decode()) is not None
    beat = client.hget(backend.keys.heartbeats, WID).decode()
    assert beat == f"{run_at[:19]}+00:00"
    assert abs(timefmt.parse_any(beat).timestamp() - time.time()) < 120  # type: ignore[union-attr]


def test_reserve_keeps_an_existing_registration(app: Resque, backend: RedisBackend) -> None:
    """A registered worker's started time and heartbeat are left as they are."""
    backend.workers.register(WID, "2026-01-01 00:00:00 +0000")
    beat = backend.client.hget(backend.keys.heartbeats, WID)
    app.enqueue("q", "Add", 1, 2)
    _reserve(backend, new_token(), timefmt.utc_iso_z())
    assert backend.client.get(backend.keys.worker_started(WID)) == b"2026-01-01 00:00:00 +0000"
    assert backend.client.hget(backend.keys.heartbeats, WID) == beat


def test_lease_is_exclusive_refreshable_and_lapses(backend: RedisBackend) -> None:
    """claim: ours when free or already ours; another's value while it holds it; free
    again after its TTL; drop_lease deletes only the value it was given."""
    workers = backend.workers
    assert workers.claim(WID, "aaaa", "1:ns", 0.3) is None
    assert workers.claim(WID, "aaaa", "2:ns", 0.3) is None  # a repeat / a refresh
    assert workers.claim(WID, "bbbb", "1:ns", 0.3) == "aaaa:2:ns"
    assert workers.leases([WID, "other:2:q"]) == ["aaaa:2:ns", None]
    assert workers.drop_lease(WID, "aaaa:1:ns") is False
    deadline = time.monotonic() + 5
    while workers.claim(WID, "bbbb", "1:ns", 0.3) is not None:
        assert time.monotonic() < deadline, "the lease never lapsed"
        time.sleep(0.05)
    assert workers.claim(WID, "bbbb", "2:ns", 0.3) is None
    assert workers.drop_lease(WID, "bbbb:2:ns") is True
    assert workers.leases([WID]) == [None]


def test_unregister_removes_the_lease_of_its_owner_only(backend: RedisBackend) -> None:
    """A worker's unregister drops its own lease; pruning (no nonce) drops whoever's."""
    workers = backend.workers
    workers.register(WID, timefmt.ruby_time_to_s())
    workers.claim(WID, "aaaa", "1:ns", 30)
    assert workers.unregister(WID, "bbbb")
    assert workers.leases([WID]) == ["aaaa:1:ns"]
    assert workers.unregister(WID, "")
    assert workers.leases([WID]) == [None]


def test_scan_records_lists_job_records_only(app: Resque, backend: RedisBackend) -> None:
    """scan_records walks worker:* and returns job records, registered or not, never
    :started, :lease or node's ping keys."""
    client = backend.client
    record = b'{"queue":"q","run_at":"2020-01-01T00:00:00Z","payload":{"class":"Add","args":[]}}'
    client.set(backend.keys.worker("gone:7:q"), record)
    client.set(backend.keys.worker_started("gone:7:q"), b"2020-01-01 00:00:00 +0000")
    client.set(backend.keys.worker_lease("x:1:q"), b"aaaa:1:ns")
    client.set(backend.keys.worker_ping("x:1"), b'{"time":1,"name":"x:1","queues":"q"}')
    found: dict[str, bytes] = {}
    cursor = 0
    while True:
        cursor, records = backend.workers.scan_records(cursor, 2)
        found.update(records)
        if cursor == 0:
            break
    assert found == {"gone:7:q": record}
