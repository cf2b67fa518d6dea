"""Outcomes of several megabytes cross from a forked child to its parent intact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyresque import Resque
from tests.worker_proc import start_worker, stop

pytestmark = pytest.mark.redis

SIZE = 5_000_000


@pytest.mark.parametrize("mode", ["fork", "fork-every"])
def test_a_large_result_and_a_large_failure_arrive_whole(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    """A 5 MB result reaches the job's status, a 5 MB message its failure record."""
    ok = app.enqueue("q", "big_result", SIZE, track_status=True)
    app.enqueue("q", "big_failure", SIZE)
    proc = start_worker(redis_url, "q", "--mode", mode, "--burst", "--jobs-per-child", "1")
    assert stop(proc, timeout=60) == 0
    status = app.tracked(ok)
    assert status.status.name == "COMPLETE"
    raw = app.backend.client.get(app.backend.keys.status(ok))  # type: ignore[attr-defined]
    assert json.loads(raw)["result"] == "r" * SIZE
    records = [json.loads(r) for r in app.backend.client.lrange("resque:failed", 0, -1)]  # type: ignore[attr-defined]
    assert len(records) == 1 and records[0]["error"] == "f" * SIZE
