"""The hot step's cost cuts (issue 15) keep what every reader sees.

RESERVE finishes an untracked job without its status key (the reply that reserved it
said it was untracked) and writes the next record over the finished one (no DEL
before the SET): 6 commands per untracked job instead of 8. What stays: tracked jobs
get WORKING then COMPLETE, untracked ones never get a status, a step that finds the
queue empty releases the record, and the counters count each job once.
"""

from __future__ import annotations

import json

import pytest
import redis

from pyresque import Resque
from pyresque.backends.redis import RedisBackend
from pyresque.backends.redis.workers import RedisWorkerRegistry
from pyresque.core import timefmt
from pyresque.core.reservation import NOT_HELD, RECORDED, Reservation, Step, new_token

WID = "host:1:q"


def _step(
    registry: RedisWorkerRegistry, token: str, pending: tuple[str, str | None] | None, take: bool = True
) -> Step:
    return registry.reserve(
        WID,
        ["q"] if take else [],
        timefmt.utc_iso_z(),
        token=token,
        finish_previous=pending is not None,
        done_token=pending[0] if pending else "",
        done_job_id=pending[1] if pending else None,
        done_result={"n": 1} if pending else None,
        take=take,
    )


def _job_id(step: Step) -> str:
    assert isinstance(step.taken, Reservation)
    return str(json.loads(step.taken.payload)["id"])


def _drain(registry: RedisWorkerRegistry) -> int:
    """Take and finish every queued job as the in-process worker does; how many."""
    token = new_token()
    step = _step(registry, token, None)
    count = 0
    while isinstance(step.taken, Reservation):
        count += 1
        pending = (token, _job_id(step))
        token = new_token()
        step = _step(registry, token, pending)
        assert step.finished == RECORDED
    return count


def test_tracked_and_untracked_jobs_interleaved_keep_their_statuses(
    app: Resque, backend: RedisBackend
) -> None:
    """Untracked, tracked, untracked, tracked: each tracked job ends COMPLETE with its
    result, no untracked one gets a status key, each job is counted once and the record
    is released when the queue runs dry."""
    ids = [app.enqueue("q", "Add", i, i, track_status=i % 2 == 1) for i in range(4)]
    assert _drain(backend.workers) == 4  # type: ignore[arg-type]
    for i, job_id in enumerate(ids):
        status = backend.statuses.get(job_id)
        if i % 2:
            assert status is not None and status.status.name == "COMPLETE" and status.result == {"n": 1}
        else:
            assert status is None and backend.client.get(backend.keys.status(job_id)) is None
    assert backend.stats.get("processed") == 4 and backend.stats.get(f"processed:{WID}") == 4
    assert backend.client.get(backend.keys.worker(WID)) is None


def test_a_tracked_job_finished_by_another_registry_gets_its_status(
    app: Resque, backend: RedisBackend
) -> None:
    """The untracked mark is a registry's own: a job reserved by one and finished by
    another (a forked child, a restarted process) is finished with its status key."""
    job_id = app.enqueue("q", "Add", 1, 2, track_status=True)
    token = new_token()
    first = _step(backend.workers, token, None)  # type: ignore[arg-type]
    assert _job_id(first) == job_id
    assert backend.statuses.get(job_id).status.name == "RUNNING"  # type: ignore[union-attr]
    other = RedisWorkerRegistry(backend.client, backend.keys)
    done = _step(other, new_token(), (token, job_id), take=False)
    assert done.finished == RECORDED
    assert backend.statuses.get(job_id).status.name == "COMPLETE"  # type: ignore[union-attr]


def test_a_status_created_after_the_take_is_not_written_by_that_run(
    app: Resque, backend: RedisBackend
) -> None:
    """Tracking starts at enqueue: a status created for a job already taken by an
    untracked reserve is left as written (as one created after the job finished is)."""
    job_id = app.enqueue("q", "Add", 1, 2)
    token = new_token()
    _step(backend.workers, token, None)  # type: ignore[arg-type]
    backend.statuses.create(job_id)
    done = _step(backend.workers, new_token(), (token, job_id))  # type: ignore[arg-type]
    assert done.finished == RECORDED and done.taken is None
    assert backend.statuses.get(job_id).status.name == "WAITING"  # type: ignore[union-attr]


def test_finish_on_an_empty_queue_releases_the_record_once(app: Resque, backend: RedisBackend) -> None:
    """The finishing step that finds nothing to take deletes the record (the SET that
    replaces a DEL only runs when a job was popped); its repeat writes nothing."""
    app.enqueue("q", "Add", 1, 2)
    token = new_token()
    job_id = _job_id(_step(backend.workers, token, None))  # type: ignore[arg-type]
    t2 = new_token()
    lost = _step(backend.workers, t2, (token, job_id))  # type: ignore[arg-type]
    assert lost.finished == RECORDED and lost.taken is None
    assert backend.client.get(backend.keys.worker(WID)) is None
    again = _step(backend.workers, t2, (token, job_id))  # type: ignore[arg-type]
    assert again.finished == NOT_HELD and again.taken is None
    assert backend.stats.get("processed") == 1


def _calls(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


@pytest.mark.parametrize("backend_kind", ["redis"])  # INFO commandstats: a real server's
def test_the_untracked_hot_step_runs_six_commands(
    app: Resque, backend: RedisBackend, backend_kind: str
) -> None:
    """One EVALSHA, inside it: GET of the record, INCR x2, LPOP, GET of the new job's
    status key, SET of the new record. No DEL, no GET of the finished job's status."""
    for i in range(3):
        app.enqueue("q", "Add", i, i)
    registry: RedisWorkerRegistry = backend.workers  # type: ignore[assignment]
    token = new_token()
    pending = (token, _job_id(_step(registry, token, None)))
    token = new_token()
    pending = (token, _job_id(_step(registry, token, pending)))  # the script is loaded by now
    client = backend.client
    client.config_resetstat()
    step = _step(registry, new_token(), pending)
    assert step.finished == RECORDED and isinstance(step.taken, Reservation)
    calls = {k: v for k, v in _calls(client).items() if k.split("|")[0] not in ("config", "info")}
    assert calls == {"evalsha": 1, "get": 2, "incr": 2, "lpop": 1, "set": 1}


@pytest.mark.parametrize("backend_kind", ["redis"])  # INFO commandstats: a real server's
def test_the_async_registry_finishes_an_untracked_job_without_its_status_key(
    app: Resque, backend: RedisBackend, backend_kind: str
) -> None:
    """The async worker's batch step reads RESERVE's tracked mark too: an untracked
    slot's finish sends no status key (no GET of it); a tracked one still ends COMPLETE."""
    import asyncio

    from pyresque.backends.aio.workers import SlotStep, open_worker_registry

    plain = app.enqueue("q", "Add", 1, 1)
    tracked = app.enqueue("q", "Add", 2, 2, track_status=True)
    ids = ["h:1:q:0", "h:1:q:1"]

    async def scenario() -> dict[str, int]:
        registry = open_worker_registry(app.backend)
        try:
            await registry.prepare()
            await registry.register(ids, "2026-01-01 00:00:00 +0000")
            take = [SlotStep(i, "2026-01-01T00:00:00Z", f"tok{n}") for n, i in enumerate(ids)]
            taken = await registry.step(take, ["q"])
            assert [json.loads(r[2].payload)["id"] for r in taken] == [plain, tracked]  # type: ignore[union-attr]
            backend.client.config_resetstat()
            done = [
                SlotStep(i, "2026-01-01T00:00:01Z", "", take=False, done=(f"tok{n}", job, {"n": n}))
                for n, (i, job) in enumerate(zip(ids, (plain, tracked), strict=True))
            ]
            assert [r[0] for r in await registry.step(done, ["q"])] == [RECORDED, RECORDED]
            return _calls(backend.client)
        finally:
            await registry.close()

    calls = asyncio.run(scenario())
    assert calls["get"] == 3  # two records and the tracked job's status, not the untracked one's
    assert backend.client.get(backend.keys.status(plain)) is None
    assert backend.statuses.get(tracked).status.name == "COMPLETE"  # type: ignore[union-attr]
    assert backend.stats.get("processed") == 2
