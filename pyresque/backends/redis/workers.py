"""Worker records and stats on Redis, read side (the worker writes them too)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

import redis

from pyresque.backends.base import Stats, WorkerRegistry
from pyresque.backends.redis.failure import encode_failure
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scripts import LuaScript
from pyresque.backends.redis.spin import pool_connection
from pyresque.backends.redis.worker_scripts import CLAIM, DELETE_IF, FAIL, RECOVER, RESERVE, UNREGISTER
from pyresque.backends.redis.worker_wait import QueueWaiter
from pyresque.core import timefmt
from pyresque.core.failure import FailureRecord
from pyresque.core.reservation import Held, Reservation, Step
from pyresque.core.status_result import status_result_json
from pyresque.serializers.json import dumps_text

__all__ = ["RedisStats", "RedisWorkerRegistry"]


class RedisStats(Stats):
    """``<ns>:stat:<name>`` counters."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def get(self, name: str) -> int:
        """Round trips: 1."""
        value = self._r.get(self._k.stat(name))
        return int(value) if value is not None else 0

    def incr(self, name: str, by: int = 1) -> int:
        """Round trips: 1."""
        return int(self._r.incrby(self._k.stat(name), by))

    def clear(self, name: str) -> None:
        """Round trips: 1."""
        self._r.delete(self._k.stat(name))


def _json_str(text: str) -> str:
    """``text`` as a JSON string literal (quotes included), as the scripts embed it."""
    return dumps_text(text)


def _glob_escape(text: str) -> str:
    """``text`` matched literally by a Redis MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _result_json(result: Any) -> str:
    """A job's return value as status JSON (see :mod:`pyresque.core.status_result`)."""
    return status_result_json(result)


class RedisWorkerWriter:
    """The worker's side of ``RedisWorkerRegistry``: every hot-path step is one script.

    Round trips per job: in-process mode 1 (RESERVE finishes job N and takes job N+1);
    a failed job adds 1 (FAIL). Forking modes: the same, run from the child.
    """

    _r: redis.Redis
    _k: Keys

    def _setup_writer(self) -> None:
        self._qnames: dict[str, tuple[str, str]] = {}
        self._status_prefix, self._status_suffix = self._k.status("\x00").split("\x00")
        self._waiter: QueueWaiter | None = None
        self._fake = type(self._r).__module__.startswith("fakeredis")
        self._reserve_cache: dict[tuple[str, tuple[str, ...]], tuple[list[str], str, list[str]]] = {}
        self._hot_conn: Any = None
        self._hot_pid = 0
        # worker id -> token of the untracked job it holds (RESERVE said so as it popped
        # it): finishing that job skips the status key (one GET less per job)
        self._untracked: dict[str, str] = {}

    def _queue_parts(self, queue: str) -> tuple[str, str]:
        parts = self._qnames.get(queue)
        if parts is None:
            parts = self._qnames[queue] = (self._k.queue(queue), _json_str(queue))
        return parts

    def _status_key(self, job_id: str | None) -> str:
        return self._k.status(job_id) if job_id else ""

    def register(self, worker_id: str, started: str) -> None:
        """SADD workers + SET started. Round trips: 1 (+2 for the heartbeat)."""
        pipe = self._r.pipeline(transaction=True)
        pipe.sadd(self._k.workers, worker_id)
        pipe.set(self._k.worker_started(worker_id), started)
        pipe.execute()
        self.heartbeat(worker_id)

    def unregister(self, worker_id: str, nonce: str = "") -> bool:
        """Round trips: 1."""
        k = self._k
        keys = (
            k.workers,
            k.worker(worker_id),
            k.worker_started(worker_id),
            k.heartbeats,
            k.stat(f"processed:{worker_id}"),
            k.stat(f"failed:{worker_id}"),
            k.worker_lease(worker_id),
        )
        return bool(UNREGISTER(self._r, keys, (worker_id, nonce)))

    def claim(self, worker_id: str, nonce: str, detail: str, ttl: float) -> str | None:
        """Take or refresh the id's lease. Round trips: 1."""
        other = CLAIM(self._r, (self._k.worker_lease(worker_id),), (nonce, detail, max(1, int(ttl * 1000))))
        return None if other is None else bytes(other).decode("utf-8", "replace")

    def drop_lease(self, worker_id: str, expected: str) -> bool:
        """Delete the id's lease if it still has the value ``expected``. Round trips: 1."""
        return bool(DELETE_IF(self._r, (self._k.worker_lease(worker_id),), (expected,)))

    def leases(self, worker_ids: Sequence[str]) -> list[str | None]:
        """The lease of each id (``None``: no live pyresque process owns it). Round trips: 1."""
        if not worker_ids:
            return []
        raws: list[bytes | None] = self._r.mget([self._k.worker_lease(i) for i in worker_ids])  # type: ignore[assignment]
        return [None if raw is None else raw.decode("utf-8", "replace") for raw in raws]

    def scan_records(self, cursor: int, count: int) -> tuple[int, list[tuple[str, bytes]]]:
        """One SCAN step over ``worker:*``: (next cursor, [(worker id, job record)]) for
        the keys found that hold a job record (``:started`` and ``:lease`` keys skipped).
        Round trips: 2."""
        prefix = self._k.worker("")
        cursor, found = self._r.scan(cursor, match=_glob_escape(prefix) + "*", count=count)
        names = [key if isinstance(key, bytes) else key.encode() for key in found]
        if not names:
            return int(cursor), []
        values: list[bytes | None] = self._r.mget(names)  # type: ignore[assignment]
        out = []
        for key, value in zip(names, values, strict=True):
            if value is not None and value[:1] == b"{" and b'"payload":' in value:
                out.append((key[len(prefix) :].decode("utf-8", "replace"), value))
        return int(cursor), out

    def server_time(self) -> float:
        """Redis ``TIME``. Round trips: 1."""
        seconds, micros = self._r.time()
        return float(seconds) + float(micros) / 1e6

    def heartbeat(self, worker_id: str) -> float:
        """HSET workers:heartbeat with Redis time, Ruby's format. Round trips: 2."""
        now = self.server_time()
        self._r.hset(self._k.heartbeats, worker_id, timefmt.heartbeat_time(now))
        return now

    def reserve(
        self,
        worker_id: str,
        queues: Sequence[str],
        run_at: str,
        *,
        token: str,
        done_job_id: str | None = None,
        done_result: Any = None,
        done_token: str = "",
        finish_previous: bool = False,
        take: bool = True,
    ) -> Step:
        """Round trips: 1 (done of the previous job fused in).

        A job whose status key did not exist as this registry reserved it (RESERVE's
        reply says so) is finished without its status key: tracking starts at enqueue
        (or before the job is taken), and a status created once the job was taken is
        not written by that run, as one created after it finished is not."""
        cache_key = (worker_id, tuple(queues) if take else ())
        static = self._reserve_cache.get(cache_key)
        if static is None:
            keys = [
                self._k.worker(worker_id),
                self._k.stat("processed"),
                self._k.stat(f"processed:{worker_id}"),
                self._k.workers,
                self._k.worker_started(worker_id),
                self._k.heartbeats,
            ]
            names = []
            for q in cache_key[1]:
                key, name = self._queue_parts(q)
                keys.append(key)
                names.append(name)
            # the record's "worker" is node-resque's worker name, host:pid (the id up to its
            # second colon), so node's allWorkingOn/cleanOldWorkers find the worker by it
            name = ":".join(worker_id.split(":", 2)[:2])
            static = self._reserve_cache[cache_key] = (keys, _json_str(name), names)
            if len(self._reserve_cache) > 64:
                self._reserve_cache.clear()
        keys, id_json, names = static
        untracked = self._untracked
        if finish_previous and (not done_token or untracked.get(worker_id) != done_token):
            status_key = self._status_key(done_job_id)
        else:  # nothing to finish, or a job that was untracked when this worker took it
            status_key = ""
        args = (
            "1" if finish_previous else "0",
            status_key,
            _result_json(done_result) if status_key else "null",
            int(time.time()),
            run_at,
            id_json,
            self._status_prefix,
            self._status_suffix,
            "1" if take and names else "0",
            done_token,
            token,
            worker_id,
            *names,
        )
        out = self._fast_script(RESERVE, keys, args)
        finished = int(out[0])
        if len(out) < 3:
            return Step(finished, None)
        index, payload = int(out[1]), bytes(out[2])
        if index < 0:
            return Step(finished, Held(payload))
        if len(out) > 3 and int(out[3]) == 0:
            if len(untracked) > 4096:
                untracked.clear()
            untracked[worker_id] = token
        else:
            untracked.pop(worker_id, None)
        return Step(finished, Reservation(queues[index - 1], payload, token))

    def warm_up(self) -> None:
        """Connect (and PING) the hot-path connection now. Round trips: 1."""
        if self._fake:
            return
        self._fast_command("PING")

    def _fast_command(self, *args: Any) -> Any:
        conn = self._hot_conn
        if conn is None or self._hot_pid != os.getpid():
            conn = self._hot_conn = pool_connection(self._r)
            self._hot_pid = os.getpid()
        try:
            conn.send_command(*args)
            return conn.read_response()
        except BaseException:
            self._hot_conn = None
            conn.disconnect()
            self._r.connection_pool.release(conn)
            raise

    def _fast_script(self, script: LuaScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """EVALSHA on a connection kept for this process, skipping redis-py's per-call
        machinery (the hot path). fakeredis goes through the normal client."""
        if self._fake:
            return script(self._r, keys, args)
        conn = self._hot_conn
        if conn is None or self._hot_pid != os.getpid():
            conn = self._hot_conn = pool_connection(self._r)
            self._hot_pid = os.getpid()
        try:
            return script.run_on(conn, keys, args)
        except BaseException:
            # unknown connection state (error, signal mid-reply): start afresh next time
            self._hot_conn = None
            conn.disconnect()
            self._r.connection_pool.release(conn)
            raise

    def done(self, worker_id: str, job_id: str | None, result: Any = None, *, token: str = "") -> bool:
        """Round trips: 1."""
        step = self.reserve(
            worker_id,
            (),
            "0000-00-00T00:00:00Z",
            token="",
            done_job_id=job_id,
            done_result=result,
            done_token=token,
            finish_previous=True,
            take=False,
        )
        return step.finished > 0

    def fail(
        self,
        worker_id: str,
        record: FailureRecord | None,
        job_id: str | None,
        *,
        token: str = "",
        pooled: bool = False,
    ) -> bool:
        """Round trips: 1."""
        k = self._k
        keys = (
            k.worker(worker_id),
            k.failed,
            k.stat("failed"),
            k.stat(f"failed:{worker_id}"),
            k.stat("processed"),
            k.stat(f"processed:{worker_id}"),
        )
        data = encode_failure(record) if record is not None else b""
        args = (data, self._status_key(job_id), int(time.time()), token)
        if pooled:  # from another thread (the in-process watchdog): not the hot connection
            return bool(FAIL(self._r, keys, args))
        return bool(self._fast_script(FAIL, keys, args))

    def held(self, worker_id: str) -> bytes | None:
        """Round trips: 1."""
        raw: bytes | None = self._r.get(self._k.worker(worker_id))  # type: ignore[assignment]
        return raw

    def recover(
        self,
        worker_id: str,
        expected: bytes,
        *,
        mode: str,
        record: FailureRecord | None,
        queue: str,
        payload: bytes,
        job_id: str | None,
    ) -> bool:
        """Round trips: 1."""
        if mode not in ("fail", "requeue", "handled"):
            raise ValueError(f"unknown recovery mode {mode!r}")
        k = self._k
        target = queue or "failed_recovery"
        keys = (
            k.worker(worker_id),
            k.failed,
            k.stat("failed"),
            k.stat("processed"),
            k.queues,
            k.queue(target),
        )
        data = encode_failure(record) if record is not None else b""
        args = (expected, mode, data, target, payload, self._status_key(job_id), int(time.time()))
        return bool(RECOVER(self._r, keys, args))

    def acquire_prune_lock(self, owner: str, ttl: int) -> bool:
        """SET NX EX. Round trips: 1."""
        return bool(self._r.set(self._k.pruning_lock, owner, nx=True, ex=max(1, int(ttl))))

    def release_prune_lock(self, owner: str) -> None:
        """Compare-and-delete. Round trips: 1."""
        DELETE_IF(self._r, (self._k.pruning_lock,), (owner,))

    def paused_all(self) -> bool:
        """Round trips: 1."""
        value = self._r.get(self._k.pause_all)
        return value is not None and bytes(value).strip().lower() == b"true"  # type: ignore[arg-type]

    def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        """Block until a job may be in ``queues`` (see ``worker_wait``); takes nothing.
        Round trips: 1 (one queue) or 2 (several) per wait."""
        if self._waiter is None:
            self._waiter = QueueWaiter(self._r, fake=self._fake)
        self._waiter.wait([self._queue_parts(q)[0] for q in queues], timeout, (self._k.queues,))


class RedisWorkerRegistry(RedisWorkerWriter, WorkerRegistry):
    """``<ns>:workers``, ``<ns>:worker:<id>`` and ``<ns>:workers:heartbeat``."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._setup_writer()

    def all(self) -> list[str]:
        """Round trips: 1."""
        members: set[bytes] = self._r.smembers(self._k.workers)  # type: ignore[assignment]
        return sorted(m.decode("utf-8", "replace") for m in members)

    def working(self) -> dict[str, dict[str, Any]]:
        """Round trips: 2 (SMEMBERS, MGET)."""
        ids = self.all()
        if not ids:
            return {}
        raws: list[bytes | None] = self._r.mget([self._k.worker(i) for i in ids])  # type: ignore[assignment]
        out: dict[str, dict[str, Any]] = {}
        for worker_id, raw in zip(ids, raws, strict=True):
            if not raw:
                continue
            try:
                record = json.loads(raw)
            except (ValueError, RecursionError):  # a poison payload held as the queue had it
                record = {"raw": raw.decode("utf-8", "replace")}
            out[worker_id] = record if isinstance(record, dict) else {"raw": record}
        return out

    def heartbeats(self) -> dict[str, str]:
        """Round trips: 1."""
        data: dict[bytes, bytes] = self._r.hgetall(self._k.heartbeats)  # type: ignore[assignment]
        return {k.decode(): v.decode() for k, v in data.items()}
