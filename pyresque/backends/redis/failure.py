"""Failures on Redis: Ruby Resque's ``<ns>:failed`` list, same JSON, same management."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import redis

from pyresque.backends.base import FIND_LIMIT, FIND_PAGE, FailureStore
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scripts import LIST_REMOVE_IF, REQUEUE_FAILED
from pyresque.core import timefmt
from pyresque.core.errors import DecodeError, EncodeError, FailureNotFound
from pyresque.core.failure import FailureRecord
from pyresque.serializers.json import MAX_DEPTH, dumps_text, loads_strict

__all__ = ["RedisFailureStore", "decode_failure"]

#: How often an index-based operation retries when the list changed under it.
RACE_RETRIES = 5
#: Ids every JSON encoder writes as they are (no escape), so their bytes can be searched.
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.-]+")
#: A record nests its payload one level down (and foreign fields may nest too).
_RECORD_DEPTH = MAX_DEPTH + 2


def _load_entry(raw: bytes) -> Any:
    return loads_strict(raw, max_depth=_RECORD_DEPTH, what="failure entry")


def decode_failure(raw: bytes) -> FailureRecord:
    """A failure entry as a record; an unreadable entry (not strict JSON, not an object)
    becomes a record that says so and keeps the entry's text."""
    why = "failure entry is not a JSON object"
    try:
        data = _load_entry(raw)
    except DecodeError as exc:
        data, why = None, str(exc)
    if not isinstance(data, dict):
        return FailureRecord(
            failed_at="",
            payload={"class": None, "raw": raw.decode("utf-8", "replace")},
            exception="pyresque.DecodeError",
            error=why,
            backtrace=[],
            worker="",
            queue="",
        )
    return FailureRecord.from_dict(data)


def encode_failure(record: FailureRecord) -> bytes:
    """The record as Ruby writes it: compact JSON in Ruby's field order.

    Never raises for the record's sake: a payload (or foreign field) JSON cannot carry
    (NaN, bytes, nesting too deep ...) is written as text or hex
    (:meth:`FailureRecord.encodable`), and a lone surrogate in a string as its
    ``\\udXXX`` escape (:func:`~pyresque.serializers.json.dumps_text`), so the record
    is always valid UTF-8 JSON.
    """
    try:
        text = dumps_text(record.to_dict())
    except EncodeError:
        text = dumps_text(record.encodable().to_dict())
    return text.encode("utf-8")


class RedisFailureStore(FailureStore):
    """Ruby's ``Resque::Failure::Redis``: RPUSH to ``failed``; requeue keeps the entry."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._key = keys.failed

    def save(self, record: FailureRecord) -> None:
        """Round trips: 1."""
        self._r.rpush(self._key, encode_failure(record))

    def count(self, queue: str | None = None) -> int:
        """Round trips: 1 (LLEN), or 1 LRANGE when filtering by queue."""
        if queue is None:
            return int(self._r.llen(self._key))
        return sum(1 for _, rec in self._entries() if rec.queue == queue)

    def all(self, start: int = 0, count: int = 1) -> list[FailureRecord]:
        """Round trips: 1."""
        if count == 0:
            return []
        stop = -1 if count < 0 else start + count - 1
        raws: list[bytes] = self._r.lrange(self._key, start, stop)  # type: ignore[assignment]
        return [decode_failure(raw) for raw in raws]

    def _entries(self) -> list[tuple[bytes, FailureRecord]]:
        raws: list[bytes] = self._r.lrange(self._key, 0, -1)  # type: ignore[assignment]
        return [(raw, decode_failure(raw)) for raw in raws]

    def find(self, job_id: str, *, limit: int | None = FIND_LIMIT) -> list[tuple[int, FailureRecord]]:
        """The failures of the job with this id, as ``(index, record)``, oldest first.

        Reads the ``limit`` most recent entries (``None``: all), newest first, one
        LRANGE of :data:`~pyresque.backends.base.FIND_PAGE` entries per round trip
        after one LLEN; only entries whose bytes hold the id are decoded.
        """
        needle = f'"{job_id}"'.encode() if _PLAIN_ID.fullmatch(job_id) else None
        total = int(self._r.llen(self._key))
        floor = 0 if limit is None else max(0, total - max(0, limit))
        found: list[tuple[int, FailureRecord]] = []
        stop = total
        while stop > floor:
            start = max(floor, stop - FIND_PAGE)
            raws: list[bytes] = self._r.lrange(self._key, start, stop - 1)  # type: ignore[assignment]
            for i, raw in enumerate(raws):
                if needle is not None and needle not in raw:
                    continue
                record = decode_failure(raw)
                if record.payload.get("id") == job_id:
                    found.append((start + i, record))
            stop = start
        return sorted(found, key=lambda pair: pair[0])

    def _get_raw(self, index: int) -> bytes:
        raw: bytes | None = self._r.lindex(self._key, index)  # type: ignore[assignment]
        if raw is None:
            raise FailureNotFound(f"no failure at index {index}")
        return raw

    def requeue(self, index: int, queue: str | None = None) -> None:
        """Round trips: 2 (read, then an atomic check-and-requeue script)."""
        for _ in range(RACE_RETRIES):
            raw = self._get_raw(index)
            if self._requeue_raw(index, raw, queue):
                return
        raise FailureNotFound(f"failure {index} kept changing; not requeued")

    def _requeue_raw(self, index: int, raw: bytes, queue: str | None) -> bool:
        record = decode_failure(raw)
        target = queue or record.queue
        if not target or not isinstance(record.payload.get("class"), str):
            raise FailureNotFound(f"failure {index} has no requeueable payload or queue")
        data: dict[str, Any] = _load_entry(raw)
        data["retried_at"] = timefmt.ruby_failed_at()
        return bool(
            REQUEUE_FAILED(
                self._r,
                (self._key, self._k.queues, self._k.queue(target)),
                (index, raw, dumps_text(data), target, dumps_text(record.payload)),
            )
        )

    def remove(self, index: int) -> None:
        """Round trips: 2 (read, then an atomic check-and-remove script)."""
        for _ in range(RACE_RETRIES):
            raw = self._get_raw(index)
            sentinel = f"__pyresque_removed_{uuid.uuid4().hex}"
            if LIST_REMOVE_IF(self._r, (self._key,), (index, raw, sentinel)):
                return
        raise FailureNotFound(f"failure {index} kept changing; not removed")

    def clear(self) -> int:
        """Round trips: 1."""
        pipe = self._r.pipeline(transaction=True)
        pipe.llen(self._key)
        pipe.delete(self._key)
        n, _ = pipe.execute()
        return int(n)

    def _remove_matching(self, match: Callable[[FailureRecord], bool]) -> int:
        pipe = self._r.pipeline(transaction=False)
        for raw, record in self._entries():
            if match(record):
                pipe.lrem(self._key, 1, raw)  # type: ignore[arg-type]
        return sum(int(n) for n in pipe.execute())

    def _requeue_matching(self, match: Callable[[FailureRecord], bool]) -> int:
        done = 0
        for index, (raw, record) in enumerate(self._entries()):
            if match(record) and isinstance(record.payload.get("class"), str) and record.queue:
                done += self._requeue_raw(index, raw, None)
        return done

    def requeue_all(self) -> int:
        """Round trips: 1 + one per entry."""
        return self._requeue_matching(lambda _: True)

    def requeue_queue(self, queue: str) -> int:
        """Round trips: 1 + one per matching entry."""
        return self._requeue_matching(lambda rec: rec.queue == queue)

    def remove_queue(self, queue: str) -> int:
        """Exact-value LREMs, pipelined. Round trips: 2."""
        return self._remove_matching(lambda rec: rec.queue == queue)

    def clear_retried(self) -> int:
        """Exact-value LREMs of retried entries, pipelined. Round trips: 2."""
        return self._remove_matching(lambda rec: rec.retried_at is not None)
