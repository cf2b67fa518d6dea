"""Recovering jobs held by workers that died, and pruning those workers' records.

A job is held in ``worker:<id>`` from the instant it is reserved (one atomic step) until
its outcome is written (one atomic step). Whoever finds a held job whose runner is gone
(the parent after a dirty child exit, a worker restarting under the same id, any worker
pruning a dead one) releases it here: recorded as a failure (Resque's way) or requeued
at the front of its queue (``recover="requeue"``), never lost. The release is a
compare-and-act on the exact record, so two pruners never release one job twice.
Each release calls ``after_recover`` once (:func:`recover_record`); a release whose
reply was lost is settled by :func:`settle_unsure` (the next prune or release).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyresque.core import timefmt
from pyresque.core.errors import DecodeError, WorkerLost
from pyresque.core.failure import FailureRecord
from pyresque.core.job import Job
from pyresque.core.worker.identity import lease_namespace, pid_namespace
from pyresque.core.worker.perform import raw_payload_dict
from pyresque.core.worker.voice import clean, exception_text
from pyresque.serializers.json import MAX_DEPTH, dumps_text, loads_strict

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["parse_worker_id", "prune_dead_workers", "recover_record", "settle_unsure"]

log = logging.getLogger("pyresque.worker")


def parse_worker_id(worker_id: str) -> tuple[str, int | None, str]:
    """``host:pid:queues`` -> (host, pid or ``None`` when not a number, queues)."""
    host, _, rest = worker_id.partition(":")
    pid_text, _, queues = rest.partition(":")
    return host, int(pid_text) if pid_text.isdigit() else None, queues


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _split_record(raw_record: bytes) -> tuple[str, bytes, dict[str, Any]]:
    """(queue, raw payload bytes, payload dict as recorded) from a ``worker:<id>`` value.

    Total: whatever the record holds, it returns. The reserve script embeds a payload
    as the queue had it, so a record may not be strict JSON (NaN, nesting too deep,
    bytes that are not UTF-8); such a record still gives its queue and the payload's
    exact bytes from the script's layout (else the whole record is the raw payload),
    and the payload dict then keeps those bytes (``raw`` text or ``raw_hex``), never a
    value a failure record could not write.
    """
    layout = re.fullmatch(
        rb'\{"queue":("(?:[^"\\]|\\.)*"),"run_at":"[^"]*","payload":(.*?)'
        rb'(?:,"worker":"(?:[^"\\]|\\.)*")?(?:,"reservation":"[^"]*")?\}',
        raw_record,
        re.DOTALL,
    )

    def strict(data: bytes, depth: int = MAX_DEPTH) -> Any:
        try:
            return loads_strict(data, max_depth=depth, what="worker record")
        except DecodeError:
            return DecodeError  # not a JSON value: a marker no record holds

    def unhex(payload: Any) -> bytes | None:
        hexed = payload.get("raw_hex") if isinstance(payload, dict) else None
        if isinstance(payload, dict) and payload.get("class") is None and isinstance(hexed, str):
            try:
                return bytes.fromhex(hexed)
            except ValueError:
                return None
        return None

    data = strict(raw_record, MAX_DEPTH + 1)  # the payload sits one level down
    if isinstance(data, dict):
        queue = data["queue"] if isinstance(data.get("queue"), str) else ""
        payload = data.get("payload")
        raw = unhex(payload)
        if raw is not None:
            return queue, raw, raw_payload_dict(raw)
        exact = layout.group(2) if layout is not None else None
        if isinstance(payload, dict):
            if exact is not None and strict(exact) == payload:
                return queue, exact, payload  # the bytes as the queue had them
            return queue, dumps_text(payload).encode("utf-8"), payload
        raw = dumps_text(payload).encode("utf-8")  # strict JSON always encodes back
        return queue, raw, raw_payload_dict(raw)
    if layout is None:
        return "", raw_record, raw_payload_dict(raw_record)
    try:
        queue_value = json.loads(layout.group(1))  # a JSON string literal
        queue = queue_value if isinstance(queue_value, str) and queue_value.encode("utf-8") else ""
    except ValueError:  # not UTF-8, or a lone surrogate
        queue = ""
    raw = layout.group(2)
    hexed = unhex(strict(raw))
    if hexed is not None:
        raw = hexed
    return queue, raw, raw_payload_dict(raw)


def recover_record(
    worker: Worker,
    owner_id: str,
    raw_record: bytes,
    exc: BaseException,
    *,
    requeue: bool = False,
    quiet: bool = False,
) -> bool:
    """Release the job in ``raw_record`` (the value of ``worker:<owner_id>``): fail it with
    ``exc`` (``on_failure`` hooks run first, so retries apply), or with ``requeue`` push
    it back to the front of its queue. Returns whether this call released it (logged,
    unless ``quiet``: the caller says it). Round trips: 1."""
    queue, raw, payload = _split_record(raw_record)
    job: Job | None = None
    try:
        job = worker.app.decode(raw, queue)
    except (ValueError, LookupError):
        job = None
    backend = worker.app.backend.workers
    job_id = job.id if job is not None else None
    settle_unsure(worker)
    if requeue and queue and job is not None:
        done = _released(
            worker,
            owner_id,
            raw_record,
            (job, queue, True, exc),
            lambda: backend.recover(
                owner_id, raw_record, mode="requeue", record=None, queue=queue, payload=raw, job_id=job_id
            ),
        )
        if done and not quiet:
            log.warning("requeued %s from %s (%s)", clean(job.class_name), owner_id, exception_text(exc))
        return done
    handled = False
    if job is not None:
        try:
            handled = worker.app.hooks.on_failure(worker, job, exc)
        except Exception:
            log.exception("an on_failure hook raised; the failure is recorded regardless")
        payload = job.to_payload()
    record = (
        None if handled else FailureRecord.from_exception(exc, payload=payload, queue=queue, worker=owner_id)
    )
    done = _released(
        worker,
        owner_id,
        raw_record,
        (job, queue, False, exc),
        lambda: backend.recover(
            owner_id,
            raw_record,
            mode="handled" if handled else "fail",
            record=record,
            queue=queue,
            payload=raw,
            job_id=job_id,
        ),
    )
    if done and not quiet:
        log.warning("failed %s held by %s: %s", clean(payload.get("class")), owner_id, exception_text(exc))
    return done


#: What a release tells ``after_recover``: (job, queue, requeued, exception).
_Release = tuple[Job | None, str, bool, BaseException]
#: Releases whose reply was lost, per worker: (owner id, record) -> what to tell.
_UNSURE = "_pyresque_unsure_releases"


def _released(
    worker: Worker, owner_id: str, raw_record: bytes, release: _Release, step: Callable[[], bool]
) -> bool:
    """Run the release ``step``; when it did release, call ``after_recover`` once.

    A step that raises (its reply lost: it may have run) is remembered, and
    :func:`settle_unsure` decides later whether it ran."""
    unsure: dict[tuple[str, bytes], _Release] = worker.__dict__.setdefault(_UNSURE, {})
    unsure[(owner_id, raw_record)] = release
    try:
        done = step()
    except BaseException:
        if len(unsure) > 1000:  # a backend down for long: keep the latest only
            unsure.pop(next(iter(unsure)))
        raise
    unsure.pop((owner_id, raw_record), None)
    if done:
        worker.app.hooks.after_recover(worker, *release)
    return done


def settle_unsure(worker: Worker) -> None:
    """Decide the releases whose reply was lost: a record still as it was means the
    release never ran (it is still held, and the next release of it says so itself);
    a record gone or changed means it ran: ``after_recover`` is called for it now.

    The release is a compare-and-act on the exact record, and one worker prunes at a
    time (the prune lock), so a record gone after our release's lost reply is ours.
    Round trips: 1 per unsure release (none in the common case)."""
    unsure: dict[tuple[str, bytes], _Release] | None = worker.__dict__.get(_UNSURE)
    if not unsure:
        return
    registry = worker.app.backend.workers
    for key in list(unsure):
        owner_id, raw_record = key
        still = registry.held(owner_id) == raw_record  # raises while the backend is away
        release = unsure.pop(key, None)  # (another thread of an async worker may settle it)
        if release is not None and not still:
            worker.app.hooks.after_recover(worker, *release)


def prune_dead_workers(worker: Worker) -> list[str]:
    """Unregister workers that are gone, releasing their jobs; returns their ids.

    Gone means: a heartbeat older than ``prune_interval`` by the server's clock (any
    host), or a worker on this host whose pid no longer exists. Only one worker prunes
    at a time (``pruning_dead_workers_in_progress``, SET NX EX).
    """
    registry = worker.app.backend.workers
    if not registry.acquire_prune_lock(worker.id, int(worker.options.heartbeat_interval) or 1):
        return []
    try:
        return _prune(worker)
    finally:
        registry.release_prune_lock(worker.id)


#: SCAN steps (of :data:`ORPHAN_SCAN_COUNT` keys each) one prune spends looking for job
#: records of unregistered workers; the cursor carries over to the next prune.
ORPHAN_SCAN_STEPS = 10
ORPHAN_SCAN_COUNT = 500
#: An unregistered worker's record younger than this (seconds, by its ``run_at``) is
#: left for the next prune: another implementation may be between two of its writes.
ORPHAN_GRACE = 60.0

_RUN_AT = re.compile(rb'"run_at":"([^"]{1,64})"')


def _prune(worker: Worker) -> list[str]:
    registry = worker.app.backend.workers
    settle_unsure(worker)
    now = registry.server_time()
    beats = registry.heartbeats()
    hostname = socket.gethostname()
    ours = pid_namespace()
    registered = registry.all()
    leases = dict(zip(registered, registry.leases(registered), strict=True))
    pruned = []
    for other in registered:
        if other == worker.id:
            continue
        lease = leases[other]
        host, pid, _ = parse_worker_id(other)
        beat = timefmt.parse_any(beats[other]) if other in beats else None
        # a live lease means a live pyresque process, whatever its heartbeat says
        stale = lease is None and beat is not None and now - beat.timestamp() > worker.options.prune_interval
        # a pid this process cannot see is dead only if it was in our pid namespace
        visible = lease is None or lease_namespace(lease) == ours
        dead_here = (
            host == hostname and pid is not None and pid != os.getpid() and visible and not _pid_alive(pid)
        )
        if not (stale or dead_here):
            continue
        held = registry.held(other)
        if held is not None:
            why = "heartbeat stale" if stale else f"pid {pid} is gone"
            lost = WorkerLost(f"worker {other} died ({why})")
            recover_record(worker, other, held, lost, requeue=worker.options.recover == "requeue")
        if registry.unregister(other):
            pruned.append(other)
            log.warning("pruned dead worker %s", other)
    pruned.extend(_prune_orphans(worker, set(registered), beats, now))
    return pruned


def _prune_orphans(worker: Worker, registered: set[str], beats: dict[str, str], now: float) -> list[str]:
    """Recover jobs held under ids no registered worker owns (a worker that took a job
    and died while its registration was lost, or records left by older releases):
    SCAN ``worker:*``, bounded per call, resuming where the last call stopped."""
    registry = worker.app.backend.workers
    found: list[tuple[str, bytes]] = []
    cursor = worker.orphan_cursor
    for _ in range(ORPHAN_SCAN_STEPS):
        cursor, records = registry.scan_records(cursor, ORPHAN_SCAN_COUNT)
        found.extend((owner, raw) for owner, raw in records if owner not in registered and owner != worker.id)
        if cursor == 0:
            break
    worker.orphan_cursor = cursor
    pruned = []
    for (owner, raw), lease in zip(found, registry.leases([o for o, _ in found]), strict=True):
        beat = timefmt.parse_any(beats[owner]) if owner in beats else None
        beating = beat is not None and now - beat.timestamp() <= worker.options.prune_interval
        if lease is not None or beating:
            continue
        match = _RUN_AT.search(raw)
        run_at = timefmt.parse_any(match.group(1).decode("utf-8", "replace")) if match else None
        if run_at is not None and now - run_at.timestamp() < ORPHAN_GRACE:
            continue
        lost = WorkerLost(f"worker {owner} is not registered and holds a job: it died")
        if recover_record(worker, owner, raw, lost, requeue=worker.options.recover == "requeue"):
            registry.unregister(owner)
            pruned.append(owner)
            log.warning("recovered the job of unregistered worker %s", owner)
    return pruned
