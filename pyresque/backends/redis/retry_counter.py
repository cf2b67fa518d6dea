"""resque-retry's attempt counter on Redis (``<ns>:resque-retry:<Class>[:<digest>]``).

The same key and the same operations as resque-retry, so a Ruby worker and a
pyresque worker retrying the same job share its count: ``SETNX -1`` then ``INCR``
before each run (the first run is attempt 0), ``DEL`` after a success or when giving up.
"""

from __future__ import annotations

import redis

from pyresque.backends.redis.keys import Keys

__all__ = ["RedisAttemptCounter"]


class RedisAttemptCounter:
    """Attempt counters of retried jobs."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def key(self, class_name: str, digest: str | None) -> str:
        """The counter's key (resque-retry's ``redis_retry_key``)."""
        return self._k.retry_attempts(class_name, digest)

    def begin(self, key: str, expire: int | None = None) -> int:
        """Count one more run and return its attempt number (0 for the first run).

        SETNX -1 + INCR (+ EXPIRE) in one MULTI. Round trips: 1.
        """
        pipe = self._r.pipeline(transaction=True)
        pipe.setnx(key, -1)
        pipe.incr(key)
        if expire:
            pipe.expire(key, int(expire))
        return int(pipe.execute()[1])

    def current(self, key: str) -> int | None:
        """The attempt number of the last run, or ``None`` when no run was counted. Round trips: 1."""
        raw: bytes | None = self._r.get(key)  # type: ignore[assignment]
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            return None

    def clear(self, key: str, *more: str) -> None:
        """Forget the count (and the other keys given). Round trips: 1."""
        self._r.delete(key, *more)

    def failure_key(self, class_name: str, digest: str | None) -> str:
        """resque-retry's ``failure-<retry key>``: the last failure while retrying."""
        return self._k.retry_failure(class_name, digest)

    def remember_failure(self, key: str, data: bytes, ttl: int) -> None:
        """SET EX the last failure for ``ttl`` seconds (resque-web's Retry tab). Round trips: 1."""
        self._r.set(key, data, ex=max(1, int(ttl)))
