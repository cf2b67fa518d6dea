"""One shard as a sharded worker sees it: :class:`Lane`.

A lane is a shard's :class:`~pyresque.backends.redis.RedisBackend` plus what one worker
process keeps about it:

- its **token prefix** (``s<index>-``): every reservation the worker takes on this
  shard carries a token that starts with it, so the outcome of a job (a success
  handed back by a forked child, a failure) is written on the shard the job came
  from, whatever process writes it;
- whether it is **down** (a connection error), until when it is left alone (backoff,
  0.5 s doubling to 10 s), said once when it goes and once when it is back;
- its **backlog**: outcomes of its jobs that could not be written yet because it was
  down, written (in order) as soon as it answers again, before anything else is
  reserved there. Each is safe to repeat (token-guarded); one whose write may have run
  already (``maybe_ran``: its reply was lost) is not reported as "no longer held" when
  the repeat finds nothing to finish;
- an **uncertain** reserve: one whose reply was lost (it may have taken a job and
  recorded it under its token). The next reserve there repeats that exact call (same
  token, run_at and queues) after the backlog, so a job it took is handed back, not
  left held (which recovery would then fail as a dead runner's);
- ``paused_all`` (Ruby's ``pause-all-workers`` on that shard: its queues are skipped);
- which of its queues are **known empty**: a reserve found them empty, and the shard
  has tracked them for the worker since (``CLIENT TRACKING ... BCAST``, armed once,
  left on: :mod:`~.wait`) without a write to them. A reserve skips a group of queues
  known empty (no round trip to that shard), for at most :data:`TRUST_EMPTY` seconds
  (then it asks again, in case a wake-up was missed); any write to one of them (a push)
  makes the shard's listener readable, and the next reserve reads which.

A stalled shard (it accepts connections, never answers) costs the worker its client's
read timeout per try (redis-py's default here: the connect timeout, 5 s), then it is
left alone like a stopped one; the idle wait's own connections time out after 2 s.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from pyresque.backends.redis import RedisBackend
from pyresque.backends.redis.shards.wait import ShardWaiter
from pyresque.core.failure import FailureRecord
from pyresque.core.reservation import NOT_HELD

__all__ = ["Deferred", "Lane"]

log = logging.getLogger("pyresque.worker")

#: Seconds a lane that failed is left alone, first and at most.
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 15.0
#: Seconds a queue found empty is taken as still empty while its shard reports no
#: write to it (the longest a missed wake-up could delay one of its jobs).
TRUST_EMPTY = 1.0


@dataclass(slots=True)
class Deferred:
    """An outcome waiting to be written on its shard: a success (``record`` unused) or a
    failure (``failed``)."""

    token: str
    job_id: str | None
    result: Any = None
    failed: bool = False
    record: FailureRecord | None = None
    maybe_ran: bool = False
    #: say so when it finds its job no longer held (off while the caller reports it)
    report: bool = True
    #: what the write said: ``None`` until written; then RECORDED/NOT_HELD (or for a
    #: failure 1/0)
    written: int | None = None


class Lane:
    """One shard of a sharded worker (see the module docstring)."""

    def __init__(self, name: str, index: int, backend: RedisBackend, *, own: bool = False) -> None:
        #: ``backend`` is the lane's own (closed with it), not the app's shard
        self.own = own
        self.name = name
        self.index = index
        self.backend = backend
        self.registry = backend.workers
        self.prefix = f"s{index}-"
        self.down_until = 0.0
        self.failures = 0
        self.backlog: list[Deferred] = []
        self.uncertain: tuple[str, str, tuple[str, ...]] | None = None
        self.paused_all = False
        self.registered = False
        self.orphan_cursor = 0
        self.waiter = ShardWaiter(backend.client)
        #: queue -> when a reserve found it empty (monotonic); dropped when written
        self.empty: dict[str, float] = {}
        self._queue_of_key: dict[bytes, str] = {}

    # -- known-empty queues ----------------------------------------------------------
    def absorb(self) -> None:
        """Read the shard's wake-ups (never blocks): queues written since are no longer
        known empty."""
        if not self.waiter.armed:
            self.empty.clear()
            return
        changed = self.waiter.absorb()
        if changed is None:
            self.empty.clear()
            return
        for key in changed:
            queue = self._queue_of_key.get(key)
            if queue is not None:
                self.empty.pop(queue, None)

    def took_job(self, names: list[str]) -> None:
        """A reserve of ``names`` took a job: they are not empty, and, when none of its
        queues is known empty, the shard need not track them for now (no wake-up per
        pop of ours)."""
        for name in names:
            self.empty.pop(name, None)
        if self.waiter.armed and not self.empty:  # (still tracking some it knows empty: keep)
            try:
                self.waiter.let_go()
            except Exception:  # a failing shard: the next call there says so
                self.waiter.reset()
                self.empty.clear()

    def known_empty(self, names: list[str], now: float) -> bool:
        """Every one of ``names`` was found empty under tracking, less than
        :data:`TRUST_EMPTY` seconds ago, and not written since."""
        if not self.waiter.armed:
            return False
        empty = self.empty
        return all(name in empty and now - empty[name] < TRUST_EMPTY for name in names)

    def found_empty(self, names: list[str], watched: list[str], dynamic: bool, now: float) -> None:
        """A reserve of ``names`` took nothing: track ``watched`` (the lane's queues in
        the worker's list) if not yet (one round trip), and note ``names`` empty, unless
        arming found one of ``watched`` holding a job meanwhile."""
        k = self.backend.keys
        keys = [k.queue(q) for q in watched]
        try:
            written = self.waiter.ensure(keys, [k.queues] if dynamic else [])
        except Exception:  # a failing shard: the next reserve there says so
            self.waiter.reset()
            self.empty.clear()
            return
        if len(self._queue_of_key) > 4096:
            self._queue_of_key.clear()
        for queue, key in zip(watched, keys, strict=True):
            self._queue_of_key[key.encode()] = queue
        if not written:
            for name in names:
                self.empty[name] = now

    def up(self, now: float | None = None) -> bool:
        """Not left alone after a failure (its backoff has passed)."""
        return (time.monotonic() if now is None else now) >= self.down_until

    def usable(self, now: float) -> bool:
        """Up and not paused by ``pause-all-workers``."""
        return now >= self.down_until and not self.paused_all

    def mark_down(self, exc: BaseException) -> None:
        """A connection error: leave the shard alone for a while (said once)."""
        self.failures += 1
        delay = min(FIRST_BACKOFF * 2 ** min(self.failures - 1, 8), MAX_BACKOFF)
        self.down_until = time.monotonic() + delay
        self.waiter.reset()
        self.empty.clear()
        if self.failures == 1:
            log.error(
                "shard %s (%s) unreachable (%s); working the other shards, retrying it with backoff",
                self.name,
                self.backend.describe(),
                exc,
            )

    def mark_up(self) -> None:
        """It answered."""
        if self.failures:
            log.warning("shard %s (%s) reachable again", self.name, self.backend.describe())
        self.failures = 0
        self.down_until = 0.0

    def write(self, worker_id: str, item: Deferred) -> int:
        """Write one outcome; what the script said (repeat-safe: token-guarded). A
        connection error marks ``item.maybe_ran`` and goes to the caller."""
        try:
            if item.failed:
                ok = self.registry.fail(worker_id, item.record, item.job_id, token=item.token)
                item.written = 1 if ok else 0
            else:
                step = self.registry.reserve(
                    worker_id,
                    (),
                    "0000-00-00T00:00:00Z",
                    token="",
                    finish_previous=True,
                    done_token=item.token,
                    done_job_id=item.job_id,
                    done_result=item.result,
                    take=False,
                )
                item.written = step.finished
        except BaseException:
            item.maybe_ran = True
            raise
        return item.written

    def flush(self, worker_id: str, *, keep_last: Deferred | None = None) -> None:
        """Write the backlog in order (all but ``keep_last`` when it is the last: the
        caller fuses it into its reserve). Items stay queued until written."""
        while self.backlog and self.backlog[0] is not keep_last:
            item = self.backlog[0]
            self.write(worker_id, item)
            self.backlog.pop(0)
            if item.written in (NOT_HELD, 0) and not item.maybe_ran and item.report:
                log.warning(
                    "job id=%s: its %s is not recorded on shard %s: this worker no longer held the "
                    "job (it was pruned while the shard was away and the job was recovered then)",
                    item.job_id or "-",
                    "failure" if item.failed else "success",
                    self.name,
                )

    def close(self) -> None:
        """Drop the wait's connections, and close the lane's own backend."""
        self.waiter.reset()
        if self.own:
            self.backend.close()

    def reset_process_state(self) -> None:
        """In a forked child: the backlog and the uncertain reserve are the parent's."""
        self.backlog = []
        self.uncertain = None

    def __repr__(self) -> str:
        return f"Lane({self.name!r}, {self.backend.describe()})"
