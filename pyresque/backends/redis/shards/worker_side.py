"""What a worker over several shards writes: :class:`ShardedWorkerSide`, the worker
registry one :class:`~pyresque.core.worker.Worker` uses on a
:class:`~pyresque.backends.redis.shards.ShardedBackend` (``worker.registry``; made by
:meth:`ShardedBackend.worker_side`). Each shard is a :class:`~.lanes.Lane`.

- **Registered on every shard it takes queues from** (the shards of its queues; every
  shard for a pattern such as ``*``), with the same id: each shard's resque-web shows
  it, its ``started``, its heartbeat and, while it works one, the job it took *from
  that shard*. Leases, heartbeats and unregistering go to each of them.
- **Reserve, in priority order**: the queues are cut into runs of consecutive queues on
  the same shard, and each run is one RESERVE script on its shard, in order, until one
  hands a job. The token of the reserve is prefixed with the shard's (``s<i>-``), so
  the finished job's success is fused into the next RESERVE *on its own shard* (when
  that shard's run comes first, or comes before a job is found), else written there
  alone right after (one more round trip); a failure is written there too.
- **A shard that is down** is left out (reserves, waits, registration) with backoff;
  outcomes of its jobs wait in its backlog and are written when it is back, before
  anything else is reserved there; a reserve whose reply was lost is repeated exactly
  there first (see :mod:`~.lanes`). In a forked child (``fork-every``) a success
  whose shard is down is not deferred (the child exits, its backlog would go with
  it): the step raises, and the child retries it as with one Redis.
- **Known empty**: a run of queues a reserve found empty is skipped (no round trip)
  while its shard reports no write to them, for a second at most (:mod:`~.lanes`);
  so a worker draining a low-priority shard pays one round trip per job.
- **Idle**: one wait on every shard at once (:mod:`~.wait`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from pyresque.backends.redis.shards.lanes import Deferred, Lane
from pyresque.backends.redis.shards.wait import Watch, wait_on_shards
from pyresque.backends.workers import WorkerRegistry
from pyresque.core.errors import ConfigurationError
from pyresque.core.failure import FailureRecord
from pyresque.core.reservation import NOTHING, Held, Reservation, Step

__all__ = ["ShardedWorkerSide"]


class ShardedWorkerSide(WorkerRegistry):
    """One worker's registry over shards (see the module docstring).

    Args:
        lanes: every shard, in the backend's order.
        shard_of: queue -> shard name.
        involved: the names of the shards the worker takes queues from.
        errors: the connection errors of the shards.
        reads: the backend's read side (``all``, ``working``, ``heartbeats`` ...).
        dynamic: the worker's queues are patterns: a new queue on a shard wakes it.
    """

    def __init__(
        self,
        lanes: Sequence[Lane],
        shard_of: Any,
        involved: Sequence[str],
        errors: tuple[type[BaseException], ...],
        reads: WorkerRegistry,
        *,
        dynamic: bool = False,
    ) -> None:
        self.all_lanes = list(lanes)
        self.lanes = [lane for lane in lanes if lane.name in set(involved)]
        self._by_name = {lane.name: lane for lane in lanes}
        self._by_prefix = {lane.prefix: lane for lane in lanes}
        self._shard_of = shard_of
        self._errors = errors
        self._reads = reads
        self.dynamic = dynamic
        self._pid = self._owner = os.getpid()
        self._groups: dict[tuple[str, ...], list[tuple[Lane, list[str]]]] = {}
        self._watched: dict[tuple[tuple[str, ...], str], list[str]] = {}

    # -- routing -------------------------------------------------------------------
    def lane_of(self, queue: str) -> Lane:
        """The lane of ``queue``'s shard."""
        return self._by_name[self._shard_of(queue)]

    def lane_of_token(self, token: str) -> Lane:
        """The lane a reservation token was drawn on (its ``s<i>-`` prefix)."""
        lane = self._by_prefix.get(token[: token.find("-") + 1]) if "-" in token else None
        if lane is None:
            raise ConfigurationError(f"reservation token {token!r} names no shard of this app")
        return lane

    def groups(self, queues: Sequence[str]) -> list[tuple[Lane, list[str]]]:
        """Runs of consecutive queues on the same shard, in order."""
        key = tuple(queues)
        found = self._groups.get(key)
        if found is None:
            found = []
            for queue in queues:
                lane = self.lane_of(queue)
                if found and found[-1][0] is lane:
                    found[-1][1].append(queue)
                else:
                    found.append((lane, [queue]))
            if len(self._groups) > 64:
                self._groups.clear()
            self._groups[key] = found
        return found

    @property
    def strict(self) -> bool:
        """In a forked child: outcomes are not deferred (see the module docstring)."""
        pid = os.getpid()
        if pid != self._pid:  # the first call in a new process: the parent's state is not ours
            self._pid = pid
            for lane in self.all_lanes:
                lane.reset_process_state()
        return pid != self._owner

    # -- the hot path --------------------------------------------------------------
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
        """Write the previous job's success on its shard (fused where it can be) and
        take the highest-priority job of any shard. Round trips: 1 per run of queues
        looked at, +1 when the success's shard comes after the job found."""
        strict = self.strict
        pending: Deferred | None = None
        if finish_previous:
            lane = self.lane_of_token(done_token)
            pending = Deferred(done_token, done_job_id, done_result, report=False)
            lane.backlog.append(pending)
            if strict:
                self._flush_now(lane, worker_id, pending)
        taken: Reservation | Held | None = None
        if take and queues:
            taken = self._take(worker_id, queues, run_at, token, pending, strict)
        self._flush_all(worker_id, pending, strict)
        if pending is not None and pending.written is None:
            pending.report = True  # deferred: said when written, if it finds nothing then
        return Step((pending.written or NOTHING) if pending is not None else NOTHING, taken)

    def _flush_now(self, lane: Lane, worker_id: str, pending: Deferred) -> None:
        try:
            lane.flush(worker_id)
        except self._errors:
            if pending in lane.backlog:
                lane.backlog.remove(pending)
            raise
        lane.mark_up()

    def _take(
        self,
        worker_id: str,
        queues: Sequence[str],
        run_at: str,
        token: str,
        pending: Deferred | None,
        strict: bool,
    ) -> Reservation | Held | None:
        now = time.monotonic()
        groups = self.groups(queues)
        for lane in self.lanes:  # wake-ups of every shard, so none piles up
            lane.absorb()
        for lane, names in groups:
            if not lane.usable(now) or lane.known_empty(names, now):
                continue
            fuse: Deferred | None = None
            try:
                if lane.uncertain is not None:
                    lane.flush(worker_id)
                    covered = set(lane.uncertain[2]) >= set(names)
                    again = self._repeat_uncertain(lane, worker_id)
                    lane.mark_up()
                    if again is not None:
                        return again
                    if covered:  # that was a reserve of these queues: they are empty
                        continue
                else:
                    if pending is not None and lane.backlog and lane.backlog[-1] is pending:
                        fuse = pending  # a success: fused into this shard's reserve
                    lane.flush(worker_id, keep_last=fuse)
                lane_token = lane.prefix + token
                lane.uncertain = (lane_token, run_at, tuple(names))
                step = lane.registry.reserve(
                    worker_id,
                    names,
                    run_at,
                    token=lane_token,
                    finish_previous=fuse is not None,
                    done_token=fuse.token if fuse else "",
                    done_job_id=fuse.job_id if fuse else None,
                    done_result=fuse.result if fuse else None,
                )
                lane.uncertain = None
            except self._errors as exc:
                if fuse is not None:
                    fuse.maybe_ran = True
                lane.mark_down(exc)
                continue
            lane.mark_up()
            if fuse is not None:
                fuse.written = step.finished
                lane.backlog.remove(fuse)
            if step.taken is not None:
                for name in names:
                    lane.empty.pop(name, None)
                return step.taken
            lane.found_empty(names, self.watched(queues, lane), self.dynamic, now)
        return None

    def watched(self, queues: Sequence[str], lane: Lane) -> list[str]:
        """The queues of ``lane`` in the worker's list (what its tracking covers)."""
        key = (tuple(queues), lane.name)
        found = self._watched.get(key)
        if found is None:
            found = [q for q in queues if self.lane_of(q) is lane]
            if len(self._watched) > 256:
                self._watched.clear()
            self._watched[key] = found
        return found

    def _repeat_uncertain(self, lane: Lane, worker_id: str) -> Reservation | Held | None:
        """Repeat the reserve whose reply was lost (same token: the job it took, if it
        took one, comes back; else it reserves afresh under that token)."""
        assert lane.uncertain is not None
        lane_token, run_at, names = lane.uncertain
        step = lane.registry.reserve(worker_id, names, run_at, token=lane_token)
        lane.uncertain = None
        return step.taken

    def _flush_all(self, worker_id: str, pending: Deferred | None, strict: bool) -> None:
        now = time.monotonic()
        for lane in self.all_lanes:
            if not lane.backlog:
                continue
            if not lane.up(now) and not (strict and pending in lane.backlog):
                continue
            try:
                lane.flush(worker_id)
                lane.mark_up()
            except self._errors as exc:
                if strict and pending is not None and pending in lane.backlog:
                    lane.backlog.remove(pending)
                    raise
                lane.mark_down(exc)

    def done(self, worker_id: str, job_id: str | None, result: Any = None, *, token: str = "") -> bool:
        """Write a success on its token's shard. Round trips: 1."""
        step = self.reserve(
            worker_id,
            (),
            "",
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
        """Write a failure on its token's shard (deferred while that shard is down:
        ``True`` then). Round trips: 1."""
        lane = self.lane_of_token(token)
        if pooled:  # another thread (the in-process watchdog): no lane state
            return lane.registry.fail(worker_id, record, job_id, token=token, pooled=True)
        item = Deferred(token, job_id, failed=True, record=record, report=False)
        lane.backlog.append(item)
        self._flush_all(worker_id, item, self.strict)
        if item.written is None:
            item.report = True
            return True
        return item.written > 0

    def held(self, worker_id: str) -> bytes | None:
        """A job record this worker holds on any shard that is up, after writing the
        backlogs (never the job of a reserve whose reply was lost: that one is the
        next reserve's). Round trips: 1 per shard."""
        self._flush_all(worker_id, None, False)
        now = time.monotonic()
        for lane in self.lanes:
            if not lane.up(now):
                continue
            try:
                raw = lane.registry.held(worker_id)
            except self._errors as exc:
                lane.mark_down(exc)
                continue
            if raw is None:
                continue
            if lane.uncertain is not None and raw.endswith(
                f',"reservation":"{lane.uncertain[0]}"}}'.encode()
            ):
                continue
            return raw
        return None

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
        """On the shard holding ``expected`` (compare-and-act: only that one acts)."""
        return self._reads.recover(
            worker_id, expected, mode=mode, record=record, queue=queue, payload=payload, job_id=job_id
        )

    def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        """Block on every usable shard at once until one may have a job (see
        :mod:`~.wait`); with patterns, a new queue on a shard wakes it too."""
        dynamic = self.dynamic
        now = time.monotonic()
        keys: dict[str, list[str]] = {}
        for queue in queues:
            keys.setdefault(self.lane_of(queue).name, []).append(queue)
        watches: list[Watch] = []
        for lane in self.lanes:
            names = keys.get(lane.name, [])
            if not lane.usable(now) or not (names or dynamic) or not lane.waiter.supported:
                continue
            k = lane.backend.keys
            watches.append((lane, lane.waiter, [k.queue(q) for q in names], [k.queues] if dynamic else []))
        if not watches:
            retry = [lane.down_until - now for lane in self.lanes if lane.down_until > now]
            time.sleep(max(0.0, min([timeout, *retry])))
            return
        wait_on_shards(watches, timeout, self._errors, lambda lane, exc: lane.mark_down(exc))

    def any_down(self) -> bool:
        """Whether an involved shard is left alone after a failure (a burst worker does
        not take "nothing reserved" for "every queue is empty" then)."""
        return any(lane.failures for lane in self.lanes)

    def known_queues(self) -> list[str]:
        """The queues of every involved shard that is up, sorted. Round trips: 1 per shard."""
        now = time.monotonic()
        out: set[str] = set()
        for lane in self.lanes:
            if not lane.up(now):
                continue
            try:
                out.update(lane.backend.broker.queues())
            except self._errors as exc:
                lane.mark_down(exc)
        return sorted(out)

    # -- registration, leases, heartbeats (every involved shard) --------------------
    def _each(
        self, what: Any, *, need_one: bool = True, skip_down: bool = False, mark: bool = False
    ) -> list[Any]:
        """``what(lane)`` on every involved lane; a connection error skips the lane
        (and, with ``mark``, from the worker's own thread only, marks it down). Raises the
        last error when no lane answered (``need_one``)."""
        out: list[Any] = []
        last: BaseException | None = None
        now = time.monotonic()
        for lane in self.lanes:
            if skip_down and not lane.up(now):
                continue
            try:
                out.append(what(lane))
            except self._errors as exc:
                last = exc
                if mark:
                    lane.mark_down(exc)
        if need_one and not out and last is not None:
            raise last
        return out

    def register(self, worker_id: str, started: str) -> None:
        """On every involved shard that answers (at least one must). Round trips: 3 per shard."""

        def one(lane: Lane) -> None:
            lane.registry.register(worker_id, started)
            lane.registered = True

        self._each(one, mark=True)

    def beat(self, worker_id: str, started: str) -> list[str]:
        """The heartbeat thread's beat: on each shard, register again if the worker is
        missing there (a shard that was down at the start, or lost its data), else
        refresh its heartbeat; the shards registered again. Round trips: 3 per shard."""

        def one(lane: Lane) -> str | None:
            if worker_id not in lane.registry.all():
                lane.registry.register(worker_id, started)
                lane.registered = True
                return lane.name
            lane.registry.heartbeat(worker_id)
            return None

        return [name for name in self._each(one, need_one=False) if name]

    def unregister(self, worker_id: str, nonce: str = "") -> bool:
        """Write the backlogs, then unregister on every involved shard; raises the last
        connection error when a shard could not be reached (its records stay for
        pruning). Round trips: 1 per shard."""
        self._flush_all(worker_id, None, False)
        results: list[bool] = []
        last: BaseException | None = None
        for lane in self.lanes:
            try:
                results.append(bool(lane.registry.unregister(worker_id, nonce)))
            except self._errors as exc:
                last = exc
        if last is not None:
            raise last
        return all(results)

    def claim(self, worker_id: str, nonce: str, detail: str, ttl: float) -> str | None:
        """Take or refresh the id's lease on every involved shard that answers; another
        owner's lease value if any shard has one. Round trips: 1 per shard."""
        others = self._each(lambda lane: lane.registry.claim(worker_id, nonce, detail, ttl))
        return next((o for o in others if o is not None), None)

    def drop_lease(self, worker_id: str, expected: str) -> bool:
        """Round trips: 1 per shard."""
        return any(self._each(lambda lane: lane.registry.drop_lease(worker_id, expected), need_one=False))

    def heartbeat(self, worker_id: str) -> float:
        """Round trips: 2 per shard."""
        return float(max(self._each(lambda lane: lane.registry.heartbeat(worker_id))))

    def paused_all(self) -> bool:
        """Reads each shard's ``pause-all-workers`` (a paused shard's queues are
        skipped); ``True`` when every involved shard is paused. Round trips: 1 per shard."""

        def one(lane: Lane) -> bool:
            lane.paused_all = bool(lane.registry.paused_all())
            return lane.paused_all

        self._each(one, need_one=False, skip_down=True, mark=True)
        return all(lane.paused_all for lane in self.lanes)

    def warm_up(self) -> None:
        """Connect every involved shard's hot-path connection."""
        self._each(lambda lane: lane.registry.warm_up(), need_one=False, mark=True)

    def close(self) -> None:
        """Close the lanes' own connections (the worker stopped)."""
        for lane in self.all_lanes:
            lane.close()

    # -- the read side: the backend's ------------------------------------------------
    def all(self) -> list[str]:
        """Every shard's registered workers."""
        return self._reads.all()

    def working(self) -> dict[str, dict[str, Any]]:
        """Every shard's."""
        return self._reads.working()

    def heartbeats(self) -> dict[str, str]:
        """Every shard's."""
        return self._reads.heartbeats()

    def leases(self, worker_ids: Sequence[str]) -> list[str | None]:
        """The first involved shard's (pruning runs per shard, on the lanes' own)."""
        return self.lanes[0].registry.leases(worker_ids)

    def scan_records(self, cursor: int, count: int) -> tuple[int, list[tuple[str, bytes]]]:
        """The first involved shard's (pruning runs per shard)."""
        return self.lanes[0].registry.scan_records(cursor, count)

    def server_time(self) -> float:
        """The first involved shard's clock."""
        return self.lanes[0].registry.server_time()

    def acquire_prune_lock(self, owner: str, ttl: int) -> bool:
        """The first involved shard's (pruning runs per shard)."""
        return self.lanes[0].registry.acquire_prune_lock(owner, ttl)

    def release_prune_lock(self, owner: str) -> None:
        """The first involved shard's."""
        self.lanes[0].registry.release_prune_lock(owner)
