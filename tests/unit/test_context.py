"""pyresque.current_job(): the running job, as a context variable, in every kind of job."""

from __future__ import annotations

import contextvars
from typing import Any

import pytest

import pyresque
from pyresque import JobContext, Resque, current_job
from pyresque.core import context
from pyresque.core.job import Job
from pyresque.testing import drain, inline


def test_outside_a_job_there_is_none() -> None:
    assert current_job() is None


def test_a_sync_function_job_sees_itself(fake_app: Resque) -> None:
    seen: list[JobContext | None] = []

    @fake_app.job(name="Seer")
    def seer(x: int) -> None:
        seen.append(current_job())

    job_id = fake_app.enqueue("low", "Seer", 7)
    drain(fake_app)
    (info,) = seen
    assert info is not None
    assert (info.id, info.queue, info.class_name, info.args) == (job_id, "low", "Seer", [7])
    assert info.app is fake_app and info.worker_id
    assert current_job() is None  # reset after the job


def test_a_sync_class_job_and_its_hooks_see_it(fake_app: Resque) -> None:
    seen: list[str] = []

    @fake_app.job(name="Klass")
    class Klass:
        @classmethod
        def before_perform_a(cls) -> None:
            info = current_job()
            seen.append(f"before:{info.class_name if info else None}")

        def perform(self) -> None:
            info = current_job()
            seen.append(f"perform:{info.class_name if info else None}")
            raise ValueError("boom")

        @classmethod
        def on_failure_a(cls, exc: BaseException) -> None:
            info = current_job()
            seen.append(f"failure:{info.class_name if info else None}")

    fake_app.enqueue("q", Klass)
    drain(fake_app, raise_errors=False)
    assert seen == ["before:Klass", "perform:Klass", "failure:Klass"]


def test_each_job_sees_its_own_and_nested_enqueues_do_not_leak(fake_app: Resque) -> None:
    seen: list[tuple[str, list[Any]]] = []

    @fake_app.job(name="Outer")
    def outer() -> None:
        fake_app.enqueue("q", "Inner", 1)
        info = current_job()
        assert info is not None
        seen.append((info.class_name, info.args))

    @fake_app.job(name="Inner")
    def inner(n: int) -> None:
        info = current_job()
        assert info is not None
        seen.append((info.class_name, info.args))

    with inline(fake_app):
        fake_app.enqueue("q", "Outer")
    assert seen == [("Outer", []), ("Inner", [1])]
    assert current_job() is None


def test_the_info_is_read_only() -> None:
    info = JobContext(Job.new("q", "K", [1]), Resque("fakeredis://"), "w")
    with pytest.raises(AttributeError):
        info.worker_id = "other"  # type: ignore[misc]
    assert info.args == [1] and "K" in repr(info)
    info.app.close()


def test_entered_sets_it_for_the_block_only() -> None:
    app = Resque("fakeredis://")
    job = Job.new("q", "K", [])
    with context.entered(job, app, "w1") as info:
        assert current_job() == info and info.job is job
        assert contextvars.copy_context().run(current_job) == info
    assert current_job() is None
    app.close()


def test_exported() -> None:
    assert pyresque.current_job is current_job
