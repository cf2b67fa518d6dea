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

Routing, registration, leases and the read side are the base class's
(:class:`~.lane_set.LaneSet`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pyresque.backends.redis.shards.lane_set import LaneSet
from pyresque.backends.redis.shards.lanes import Deferred, Lane
from pyresque.backends.redis.shards.wait import Watch, wait_on_shards
from pyresque.core.failure import FailureRecord
from pyresque.core.reservation import NOTHING, Held, Reservation, Step

__all__ = ["ShardedWorkerSide"]


class ShardedWorkerSide(LaneSet):
    """One worker's registry over shards (see the module docstring).

    Args:
        lanes: every shard, in the backend's order.
        shard_of: queue -> shard name.
        involved: the names of the shards the worker takes queues from.
        errors: the connection errors of the shards.
        reads: the backend's read side (``all``, ``working``, ``heartbeats`` ...).
        dynamic: the worker's queues are patterns: a new queue on a shard wakes it.
    """

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
        self.skipped_away = False
        for lane, names in groups:
            if not lane.up(now):
                self.skipped_away = True
                continue
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
                lane.took_job(names)
                return step.taken
            lane.found_empty(names, self.watched(queues, lane), self.dynamic, now)
        return None

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
