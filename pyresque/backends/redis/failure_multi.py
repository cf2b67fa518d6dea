"""Ruby's ``Resque::Failure::RedisMultiQueue``: one failure list per queue.

A failure of a job from ``high`` is RPUSHed to ``<ns>:high_failed`` and the list's
name (``high_failed``, no namespace) is added to the SET ``<ns>:failed_queues``; the
JSON is Ruby's failure record, as in ``failed``. Ruby selects it with
``FAILURE_BACKEND=redis_multi_queue``; resque-web shows each list.

Reading across queues (``all``, index-based ``requeue``/``remove``) walks the lists
in name order, as if they were one list; like every index-based failure operation
it is racy when failures are added concurrently (the entry at an index is checked
before it is changed, so a changed entry raises ``FailureNotFound``, never hits the
wrong one).
"""

from __future__ import annotations

from collections.abc import Iterator

import redis

from pyresque.backends.base import FIND_LIMIT, FailureStore
from pyresque.backends.redis.failure import RedisFailureStore, encode_failure
from pyresque.backends.redis.keys import Keys
from pyresque.core.errors import FailureNotFound
from pyresque.core.failure import FailureRecord

__all__ = ["RedisMultiQueueFailureStore"]


class _ListFailureStore(RedisFailureStore):
    """Ruby's failure semantics over one named list."""

    def __init__(self, client: redis.Redis, keys: Keys, key: str) -> None:
        super().__init__(client, keys)
        self._key = key


class RedisMultiQueueFailureStore(FailureStore):
    """Failures in ``<queue>_failed`` lists, their names in ``failed_queues``."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def _member(self, queue: str) -> str:
        """The set member for ``queue``'s list: its key without the namespace."""
        return self._k.failed_queue(queue)[len(self._k.prefix) :]

    def _store(self, member: str) -> _ListFailureStore:
        return _ListFailureStore(self._r, self._k, self._k.prefix + member)

    def failure_queues(self) -> list[str]:
        """The failure list names (``high_failed`` ...), sorted. Round trips: 1."""
        members: set[bytes] = self._r.smembers(self._k.failed_queues)  # type: ignore[assignment]
        return sorted(m.decode("utf-8", "replace") for m in members)

    def _stores(self) -> list[_ListFailureStore]:
        return [self._store(m) for m in self.failure_queues()]

    def save(self, record: FailureRecord) -> None:
        """SADD ``failed_queues`` + RPUSH ``<queue>_failed`` in MULTI. Round trips: 1."""
        member = self._member(record.queue)
        pipe = self._r.pipeline(transaction=True)
        pipe.sadd(self._k.failed_queues, member)
        pipe.rpush(self._k.prefix + member, encode_failure(record))
        pipe.execute()

    def count(self, queue: str | None = None) -> int:
        """One queue's list length, or the sum over every list. Round trips: 1-2."""
        if queue is not None:
            return self._store(self._member(queue)).count()
        members = self.failure_queues()
        if not members:
            return 0
        pipe = self._r.pipeline(transaction=False)
        for member in members:
            pipe.llen(self._k.prefix + member)
        return sum(int(n) for n in pipe.execute())

    def _located(self) -> Iterator[tuple[_ListFailureStore, int]]:
        """Each list with its length, in name order."""
        stores = self._stores()
        if not stores:
            return
        pipe = self._r.pipeline(transaction=False)
        for store in stores:
            pipe.llen(store._key)
        for store, length in zip(stores, pipe.execute(), strict=True):
            yield store, int(length)

    def _locate(self, index: int) -> tuple[_ListFailureStore, int]:
        if index < 0:
            raise FailureNotFound(f"no failure at index {index}")
        offset = index
        for store, length in self._located():
            if offset < length:
                return store, offset
            offset -= length
        raise FailureNotFound(f"no failure at index {index}")

    def all(self, start: int = 0, count: int = 1) -> list[FailureRecord]:
        """Failures ``start`` .. across the lists in name order (``count=-1``: all)."""
        if count == 0:
            return []
        found: list[FailureRecord] = []
        offset = start
        for store, length in self._located():
            if offset >= length:
                offset -= length
                continue
            want = -1 if count < 0 else count - len(found)
            found.extend(store.all(offset, want))
            offset = 0
            if 0 <= count <= len(found):
                break
        return found

    def find(self, job_id: str, *, limit: int | None = FIND_LIMIT) -> list[tuple[int, FailureRecord]]:
        """The job's failures at their global indexes, oldest first.

        Reads the ``limit`` most recent entries in the global order (``None``: all),
        list by list from the last; round trips: 2 + one per page of each list read.
        """
        located = list(self._located())
        offsets, total = [], 0
        for _, length in located:
            offsets.append(total)
            total += length
        remaining = None if limit is None else max(0, limit)
        found: list[tuple[int, FailureRecord]] = []
        for (store, length), offset in zip(reversed(located), reversed(offsets), strict=True):
            if remaining == 0:
                break
            found.extend((offset + i, r) for i, r in store.find(job_id, limit=remaining))
            if remaining is not None:
                remaining = max(0, remaining - length)
        return sorted(found, key=lambda pair: pair[0])

    def requeue(self, index: int, queue: str | None = None) -> None:
        """Requeue the entry at a global index (it stays, marked ``retried_at``)."""
        store, local = self._locate(index)
        store.requeue(local, queue)

    def remove(self, index: int) -> None:
        """Delete the entry at a global index."""
        store, local = self._locate(index)
        store.remove(local)

    def clear(self) -> int:
        """Delete every failure list and the ``failed_queues`` set. Returns how many entries."""
        members = self.failure_queues()
        pipe = self._r.pipeline(transaction=True)
        for member in members:
            pipe.llen(self._k.prefix + member)
        for member in members:
            pipe.delete(self._k.prefix + member)
        pipe.delete(self._k.failed_queues)
        results = pipe.execute()
        return sum(int(n) for n in results[: len(members)])

    def requeue_all(self) -> int:
        """Requeue every entry of every list."""
        return sum(store.requeue_all() for store in self._stores())

    def requeue_queue(self, queue: str) -> int:
        """Requeue the entries of ``queue``'s list."""
        return self._store(self._member(queue)).requeue_all()

    def remove_queue(self, queue: str) -> int:
        """Delete ``queue``'s list (Ruby: ``DEL``) and forget it. Returns how many entries."""
        member = self._member(queue)
        pipe = self._r.pipeline(transaction=True)
        pipe.llen(self._k.prefix + member)
        pipe.delete(self._k.prefix + member)
        pipe.srem(self._k.failed_queues, member)
        n, _, _ = pipe.execute()
        return int(n)

    def clear_retried(self) -> int:
        """Delete the entries already requeued, in every list."""
        return sum(store.clear_retried() for store in self._stores())
