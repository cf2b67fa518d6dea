"""Until the async worker lands, an async job is refused, never reported done unrun."""

from __future__ import annotations

from typing import Any

import pytest

from pyresque import ConfigurationError, Resque
from pyresque.testing import drain


def test_async_function_is_refused_at_registration(fake_app: Resque) -> None:
    async def send_mail(to: str) -> None: ...

    with pytest.raises(ConfigurationError, match="async"):
        fake_app.job(send_mail, name="Mail")
    assert "Mail" not in fake_app.registry.names()


def test_class_with_async_perform_is_refused(fake_app: Resque) -> None:
    class Mail:
        async def perform(self, to: str) -> None: ...

    with pytest.raises(ConfigurationError, match="async"):
        fake_app.job(Mail, name="Mail")


def test_a_job_returning_a_coroutine_fails_with_a_record(fake_app: Resque) -> None:
    """A job that hands back an awaitable (a wrapper around an async function) is failed,
    not COMPLETE; no 'never awaited' warning escapes (warnings are errors here)."""
    ran: list[str] = []

    async def body() -> None:
        ran.append("ran")

    def wrapper(*args: Any) -> Any:
        return body()

    fake_app.job(wrapper, name="Wrapped")
    job_id = fake_app.enqueue("q", "Wrapped", track_status=True)
    log = drain(fake_app, raise_errors=False)
    assert [p.ok for p in log.jobs] == [False]
    assert ran == []
    assert fake_app.tracked(job_id).status.name == "FAILED"
    record = fake_app.failures.all(0, 1)[0]
    assert "async job" in record.error and record.exception == "pyresque.InvalidJobError"
