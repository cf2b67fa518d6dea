"""pyresque: Resque for Python.

Redis-backed background jobs, wire-compatible with Ruby Resque, resque-web,
resque-scheduler, php-resque and node-resque.

    >>> from pyresque import Resque
    >>> app = Resque("fakeredis://")
    >>> @app.job(name="Greeter")
    ... class Greeter:
    ...     def perform(self, name): ...
    >>> job_id = app.enqueue("default", Greeter, "world")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyresque._version import __version__
from pyresque.backends import Backend, create_backend
from pyresque.backends.failure import CallbackFailureStore, Multiple
from pyresque.core.app import EnqueueRequest, Info, Resque
from pyresque.core.context import JobContext, current_job
from pyresque.core.dequeue import JobMatch
from pyresque.core.errors import (
    BackendConnectionError,
    BackendError,
    ConfigurationError,
    DecodeError,
    DirtyExit,
    DontEnqueue,
    DontPerform,
    EncodeError,
    FailureNotFound,
    InvalidJobError,
    InvalidQueueName,
    JobFailure,
    JobNotRegistered,
    JobTimeoutError,
    JobTimeoutInterrupt,
    PyresqueError,
    SerializationError,
    ShutdownRequested,
    TooManyJobs,
    UndeliverableDelayedItem,
    UnknownBackendError,
    UnknownJobClass,
    UnknownSerializerError,
    WaitTimeout,
    WorkerInterrupt,
    WorkerLost,
)
from pyresque.core.failure import FailureRecord
from pyresque.core.job import Job
from pyresque.core.registry import JobRegistry
from pyresque.core.scheduling.schedule import Schedule
from pyresque.core.scheduling.scheduler import Scheduler
from pyresque.core.status import JobStatus, StatusInfo
from pyresque.core.tracking import TrackedJob
from pyresque.core.worker import Worker, WorkerOptions
from pyresque.hooks import hookimpl
from pyresque.hooks.builtin.retry import RetryPlugin
from pyresque.hooks.builtin.retry_policy import RetryPolicy

if TYPE_CHECKING:
    from pyresque.aio import AsyncResque

__all__ = [
    "AsyncResque",
    "Backend",
    "BackendConnectionError",
    "BackendError",
    "CallbackFailureStore",
    "ConfigurationError",
    "DecodeError",
    "DirtyExit",
    "DontEnqueue",
    "DontPerform",
    "EncodeError",
    "EnqueueRequest",
    "FailureNotFound",
    "FailureRecord",
    "Info",
    "InvalidJobError",
    "InvalidQueueName",
    "Job",
    "JobContext",
    "JobFailure",
    "JobMatch",
    "JobNotRegistered",
    "JobRegistry",
    "JobStatus",
    "JobTimeoutError",
    "JobTimeoutInterrupt",
    "Multiple",
    "PyresqueError",
    "Resque",
    "RetryPlugin",
    "RetryPolicy",
    "Schedule",
    "Scheduler",
    "SerializationError",
    "ShutdownRequested",
    "StatusInfo",
    "TooManyJobs",
    "TrackedJob",
    "UndeliverableDelayedItem",
    "UnknownBackendError",
    "UnknownJobClass",
    "UnknownSerializerError",
    "WaitTimeout",
    "Worker",
    "WorkerInterrupt",
    "WorkerLost",
    "WorkerOptions",
    "__version__",
    "create_backend",
    "current_job",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    """``pyresque.AsyncResque``, imported on first use (``import pyresque`` stays
    free of the asyncio client: measured ~7 ms, and redis.asyncio ~50 ms more)."""
    if name == "AsyncResque":
        from pyresque.aio import AsyncResque

        return AsyncResque
    raise AttributeError(f"module 'pyresque' has no attribute {name!r}")
