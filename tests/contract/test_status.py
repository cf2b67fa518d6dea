"""Status store contract: php-resque statuses, written only for tracked jobs."""

from __future__ import annotations

import pytest

from pyresque import JobStatus, Resque
from pyresque.backends.redis import RedisBackend


def test_tracked_job_moves_through_states_and_keeps_started(app: Resque, backend: RedisBackend) -> None:
    """WAITING at enqueue, then RUNNING, COMPLETE with a result; `started` is kept."""
    job_id = app.enqueue("q", "Add", 1, 2, track_status=True)
    first = app.tracked(job_id).get()
    assert first is not None and first.status is JobStatus.WAITING and first.started is not None
    assert backend.statuses.update(job_id, JobStatus.RUNNING)
    assert backend.statuses.update(job_id, JobStatus.COMPLETE, result={"sum": 3})
    done = app.tracked(job_id).get()
    assert done is not None
    assert done.status is JobStatus.COMPLETE and done.result == {"sum": 3}
    assert done.started == first.started


@pytest.mark.parametrize("final", [JobStatus.FAILED, JobStatus.COMPLETE])
def test_finished_statuses_expire_after_a_day(app: Resque, backend: RedisBackend, final: JobStatus) -> None:
    """FAILED and COMPLETE get a 24 h TTL; WAITING and RUNNING never expire."""
    job_id = app.enqueue("q", "Add", 1, 2, track_status=True)
    key = backend.keys.status(job_id)
    backend.statuses.update(job_id, JobStatus.RUNNING)
    assert backend.client.ttl(key) == -1
    backend.statuses.update(job_id, final)
    assert 86390 <= int(backend.client.ttl(key)) <= 86400  # type: ignore[arg-type]


def test_untracked_jobs_never_get_a_status(app: Resque, backend: RedisBackend) -> None:
    """Updates of an untracked job write nothing."""
    job_id = app.enqueue("q", "Add", 1, 2)
    assert not backend.statuses.update(job_id, JobStatus.RUNNING)
    assert backend.client.exists(backend.keys.status(job_id)) == 0
    assert app.tracked(job_id).get() is None and app.tracked(job_id).status is None


def test_stop_removes_tracking(app: Resque) -> None:
    """stop() deletes the status; later updates are no-ops."""
    job_id = app.enqueue("q", "Add", 1, 2, track_status=True)
    handle = app.tracked(job_id)
    assert handle.is_tracking and handle.stop()
    assert not handle.is_tracking and not handle.stop()
