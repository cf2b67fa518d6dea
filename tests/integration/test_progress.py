"""A running job reports progress (``num``, ``total``, ``message``) that
``tracked(id).get()`` shows (issue 11). On fakeredis and the real redis-server."""

from __future__ import annotations

import json
import threading

import pytest

from pyresque import ConfigurationError, JobStatus, Resque
from pyresque.testing import drain
from tests.worker_proc import wait_for


def test_a_running_job_reports_progress_that_get_shows(app: Resque) -> None:
    """The job's own tracked() (its id from current_job) writes progress; get() reads it
    while it runs; the final status carries the result and no progress."""
    release = threading.Event()

    @app.job(name="Resize")
    def resize(n: int) -> str:
        assert app.tracked().set_progress(3, n, "resizing 3 of 4")
        release.wait(30)
        return "resized"

    job_id = app.enqueue("q", resize, 4, track_status=True)
    runner = threading.Thread(target=drain, args=(app,), daemon=True)
    runner.start()
    try:
        wait_for(lambda: (i := app.tracked(job_id).get()) is not None and i.num == 3, what="progress")
        info = app.tracked(job_id).get()
        assert info is not None and info.status is JobStatus.RUNNING
        assert (info.num, info.total, info.message, info.percent) == (3, 4, "resizing 3 of 4", 75.0)
        raw = json.loads(app.backend.client.get(f"resque:job:{job_id}:status"))
        assert raw["status"] == 2 and {"num", "total", "message", "started"} <= set(raw)
    finally:
        release.set()
        runner.join(30)
    final = app.tracked(job_id).get()
    assert final is not None and final.status is JobStatus.COMPLETE and final.result == "resized"
    assert (final.num, final.total, final.message) == (None, None, None)


def test_progress_by_explicit_id_only_over_a_running_status(app: Resque) -> None:
    """set_progress(id) writes nothing for a waiting, finished or untracked job."""

    @app.job(name="Quick")
    def quick() -> int:
        return 1

    job_id = app.enqueue("q", quick, track_status=True)
    assert app.tracked(job_id).set_progress(1, 2, "x") is False  # WAITING
    drain(app)
    assert app.tracked(job_id).set_progress(1, 2, "x") is False  # COMPLETE stays as it is
    info = app.tracked(job_id).get()
    assert info is not None and info.status is JobStatus.COMPLETE and info.num is None
    assert app.tracked("nope").set_progress(1) is False
    assert app.backend.client.get("resque:job:nope:status") is None


def test_progress_values_are_checked(app: Resque) -> None:
    """Not-a-number counts and non-string messages are one plain error; long messages are cut."""
    job_id = app.enqueue("q", "X", track_status=True)
    tracked = app.tracked(job_id)
    for bad in ({"num": float("nan")}, {"total": "10"}, {"num": True}, {"message": 5}):
        with pytest.raises(ConfigurationError):
            tracked.set_progress(**bad)  # type: ignore[arg-type]
    app.backend.client.set(  # as a worker writes RUNNING
        f"resque:job:{job_id}:status", b'{"status":2,"updated":1,"started":1,"result":null}'
    )
    assert tracked.set_progress(message="m" * 5000)
    info = tracked.get()
    assert info is not None and info.message == "m" * 1000 and info.started is not None


def test_tracked_without_an_id_outside_a_job_is_refused(app: Resque) -> None:
    """app.tracked() needs a running job to take the id from."""
    with pytest.raises(ConfigurationError, match="inside a running job"):
        app.tracked()
