"""The audit after a chaos run: where is every job that was enqueued?

Read once the faults have stopped, the workers have exited and recovery has run. Every
enqueued job id gets one class:

- ``completed``: a succeeding job that ran and has no failure record;
- ``failed``: a failure record names it, and the record is readable (JSON with
  ``exception`` and ``payload``). A failing job must end here; a succeeding job may
  too, when its runner was lost and recovery recorded it (``ran_and_failed`` counts
  those that had run all the same);
- ``queued``: still in its queue;
- ``held``: still in some ``worker:<id>`` record after recovery (a recovery bug);
- ``lost``: none of these. A failing job that ran but has no failure record is lost
  too: its outcome vanished.

Besides: ``duplicate_runs`` (jobs that started more than once: allowed only for jobs
interrupted mid-run, bounded by the faults that could interrupt one), duplicate failure
records (never allowed), unreadable records, and ``stat:processed`` / ``stat:failed``
against the truth. :meth:`AuditReport.problems` lists what breaks the guarantees.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from typing import Any

import redis

from tests.chaos.chaos_jobs import RUNS_KEY

__all__ = ["AuditReport", "audit", "held_jobs"]


@dataclasses.dataclass
class AuditReport:
    """The classes of every enqueued job id, and the counters next to the truth."""

    label: str
    total: int
    completed: int = 0
    failed: int = 0
    queued: int = 0
    held: list[str] = dataclasses.field(default_factory=list)
    lost: list[str] = dataclasses.field(default_factory=list)
    lost_ran: int = 0  # lost jobs that had started (their outcome vanished)
    duplicate_runs: dict[str, int] = dataclasses.field(default_factory=dict)
    duplicate_failures: dict[str, int] = dataclasses.field(default_factory=dict)
    ran_and_failed: int = 0  # succeeding jobs that ran and were also recorded failed
    unreadable_records: int = 0
    stray_records: int = 0  # readable records naming no enqueued job
    failure_records: int = 0
    stat_processed: int = 0
    stat_failed: int = 0
    truth_processed: int = 0  # jobs with an outcome (completed + failed)
    truth_failed: int = 0  # jobs with at least one failure record
    faults: dict[str, Any] = dataclasses.field(default_factory=dict)

    def summary(self) -> str:
        """One line for the test's output (``-s`` shows it; a failure shows it too)."""
        return (
            f"[{self.label}] jobs={self.total} completed={self.completed} failed={self.failed} "
            f"queued={self.queued} held={len(self.held)} LOST={len(self.lost)} "
            f"(of which ran={self.lost_ran}) duplicate_runs={len(self.duplicate_runs)} "
            f"duplicate_failure_records={len(self.duplicate_failures)} "
            f"ran_and_failed={self.ran_and_failed} unreadable={self.unreadable_records} "
            f"stray={self.stray_records} stat:processed={self.stat_processed} "
            f"(truth {self.truth_processed}) stat:failed={self.stat_failed} "
            f"(records {self.failure_records}, failed jobs {self.truth_failed}) faults={self.faults}"
        )

    def problems(self, *, max_duplicate_runs: int | None = None) -> list[str]:
        """What breaks the guarantees (empty when the run kept them all)."""
        out = []
        if self.lost:
            out.append(f"{len(self.lost)} jobs lost (e.g. {self.lost[:5]})")
        if self.held:
            out.append(f"{len(self.held)} jobs still held after recovery (e.g. {self.held[:5]})")
        if self.duplicate_failures:
            sample = dict(list(self.duplicate_failures.items())[:5])
            out.append(f"{len(self.duplicate_failures)} jobs with several failure records ({sample})")
        if self.unreadable_records:
            out.append(f"{self.unreadable_records} unreadable failure records")
        if self.stray_records:
            out.append(f"{self.stray_records} failure records naming no enqueued job")
        if self.stat_failed != self.truth_failed or self.failure_records != self.truth_failed:
            out.append(
                f"stat:failed is {self.stat_failed} and there are {self.failure_records} failure "
                f"records, for {self.truth_failed} failed jobs"
            )
        if max_duplicate_runs is not None and len(self.duplicate_runs) > max_duplicate_runs:
            out.append(
                f"{len(self.duplicate_runs)} jobs ran more than once; at most {max_duplicate_runs} "
                "could have been interrupted mid-run"
            )
        return out


def _payload_id(raw: bytes) -> str | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("payload"), dict):  # a worker:<id> record
        data = data["payload"]
    job_id = data.get("id") if isinstance(data, dict) else None
    return job_id if isinstance(job_id, str) else None


def held_jobs(client: redis.Redis, namespace: str = "resque") -> list[bytes]:
    """The ``worker:<id>`` values holding a job now (other ``worker:*`` keys, such as
    ``:started``, hold no JSON object with a ``payload`` and are skipped)."""
    r: Any = client  # bytes replies (no decode_responses)
    held: list[bytes] = []
    for key in r.scan_iter(match=f"{namespace}:worker:*", count=1000):
        if r.type(key) != b"string":
            continue
        value = r.get(key)
        try:
            data = json.loads(value) if value is not None else None
        except ValueError:
            continue
        if isinstance(data, dict) and "payload" in data:
            held.append(value)
    return held


def audit(
    client: redis.Redis,
    expected: dict[str, str],
    *,
    label: str,
    queues: list[str],
    namespace: str = "resque",
    faults: dict[str, Any] | None = None,
) -> AuditReport:
    """Classify every id of ``expected`` (job id -> ``"ok"`` or ``"fail"``) from what
    ``client`` (the real Redis, no fault in between) holds now."""
    report = AuditReport(label=label, total=len(expected), faults=dict(faults or {}))
    r: Any = client  # bytes replies (no decode_responses)
    runs: collections.Counter[str] = collections.Counter()
    for member in r.smembers(RUNS_KEY):
        runs[member.decode().split(" ", 1)[0]] += 1
    records: collections.Counter[str] = collections.Counter()
    raw_records = r.lrange(f"{namespace}:failed", 0, -1)
    report.failure_records = len(raw_records)
    for raw in raw_records:
        try:
            rec = json.loads(raw)
            readable = isinstance(rec, dict) and "exception" in rec and isinstance(rec.get("payload"), dict)
        except ValueError:
            readable = False
        if not readable:
            report.unreadable_records += 1
            continue
        job_id = rec["payload"].get("id")
        if job_id in expected:
            records[job_id] += 1
        else:
            report.stray_records += 1
    queued = set()
    for queue in queues:
        for raw in r.lrange(f"{namespace}:queue:{queue}", 0, -1):
            job_id = _payload_id(raw)
            if job_id is not None:
                queued.add(job_id)
    held = {_payload_id(v) for v in held_jobs(client, namespace)}
    for job_id, kind in expected.items():
        ran = runs.get(job_id, 0)
        if ran > 1:
            report.duplicate_runs[job_id] = ran
        if records[job_id] > 1:
            report.duplicate_failures[job_id] = records[job_id]
        if job_id in queued:
            report.queued += 1
        elif records[job_id]:
            report.failed += 1
            if kind == "ok" and ran:
                report.ran_and_failed += 1
        elif kind == "ok" and ran:
            report.completed += 1
        elif job_id in held:
            report.held.append(job_id)
        else:
            report.lost.append(job_id)
            report.lost_ran += bool(ran)
    report.truth_processed = report.completed + report.failed
    report.truth_failed = sum(1 for job_id in expected if records[job_id])
    report.stat_processed = int(r.get(f"{namespace}:stat:processed") or 0)
    report.stat_failed = int(r.get(f"{namespace}:stat:failed") or 0)
    return report
