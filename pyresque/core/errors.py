"""Every exception pyresque raises, under one root.

::

    PyresqueError
    ├── ConfigurationError (ValueError)
    │   ├── UnknownBackendError
    │   └── UnknownSerializerError
    ├── BackendError
    │   └── BackendConnectionError (ConnectionError)
    ├── SerializationError
    │   ├── EncodeError (TypeError)
    │   └── DecodeError (ValueError)
    ├── InvalidJobError (ValueError)
    │   ├── InvalidQueueName
    │   └── UndeliverableDelayedItem  a due delayed item names no usable queue / is unreadable
    ├── JobNotRegistered (LookupError)
    ├── UnknownJobClass (LookupError)
    ├── FailureNotFound (IndexError)
    ├── DontEnqueue             control flow: a before_enqueue hook vetoes a job
    ├── DontPerform             control flow: a before_perform hook skips a job
    ├── TooManyJobs (RuntimeError)  the test kit performed more jobs than allowed
    ├── WaitTimeout (TimeoutError)  ``tracked(id).wait(timeout)`` saw no final status in time
    └── JobFailure              how a job ended badly, as written to the failure store
        ├── DirtyExit           the process running the job exited non-zero or by a signal
        ├── JobTimeoutError     the job ran past its timeout and was killed
        └── WorkerLost          the worker holding the job died (found by pruning)

    BaseException
    └── WorkerInterrupt         raised inside a running job to stop it (shutdown, timeout)
        ├── ShutdownRequested
        └── JobTimeoutInterrupt

``WorkerInterrupt`` derives from ``BaseException`` on purpose: a job's own
``except Exception:`` must not be able to swallow a shutdown or a timeout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyresque.core.status import StatusInfo


class PyresqueError(Exception):
    """The root of every error pyresque raises on purpose."""


class ConfigurationError(PyresqueError, ValueError):
    """A setting or argument given to pyresque cannot work."""


class UnknownBackendError(ConfigurationError):
    """A backend URL names a scheme pyresque does not know."""


class UnknownSerializerError(ConfigurationError):
    """A serializer name is not one pyresque knows."""


class BackendError(PyresqueError):
    """The backend (Redis) answered with an error."""


class BackendConnectionError(BackendError, ConnectionError):
    """The backend cannot be reached. The message names the server, never a password."""


class SerializationError(PyresqueError):
    """A value could not be encoded or decoded."""


class EncodeError(SerializationError, TypeError):
    """Job arguments (or another value) cannot be serialized."""


class DecodeError(SerializationError, ValueError):
    """Bytes read from the backend are not a valid payload.

    Attributes:
        raw: the bytes that could not be decoded, kept so nothing is lost.
    """

    def __init__(self, message: str, raw: bytes = b"") -> None:
        super().__init__(message)
        self.raw = raw


class InvalidJobError(PyresqueError, ValueError):
    """A job, its arguments or its payload are not valid."""


class InvalidQueueName(InvalidJobError):
    """A queue name is empty or contains characters Resque cannot carry."""


class JobNotRegistered(PyresqueError, LookupError):
    """A Python callable was enqueued that no registry or allow-list names."""


class UnknownJobClass(PyresqueError, LookupError):
    """A payload names a job class that the registry cannot resolve."""


class FailureNotFound(PyresqueError, IndexError):
    """No failure record at that index (or it changed under us)."""


class DontEnqueue(PyresqueError):
    """Raised by a ``before_enqueue`` hook to veto a job: nothing is written."""


class DontPerform(PyresqueError):
    """Raised by a ``before_perform`` hook (or ``set_up``) to skip a job; not a failure."""


class JobFailure(PyresqueError):
    """Base of the failures the worker itself records (no user exception behind them)."""


class DirtyExit(JobFailure):
    """The process running the job exited non-zero or was killed by a signal."""


class JobTimeoutError(JobFailure):
    """The job ran longer than its timeout and was stopped."""


class WorkerLost(JobFailure):
    """The worker that held the job died; found by pruning dead workers."""


class WorkerInterrupt(BaseException):
    """Raised inside a running job to stop it.

    A ``BaseException`` so that a job's ``except Exception:`` cannot swallow it.
    """


class ShutdownRequested(WorkerInterrupt):
    """The worker was told to stop now (TERM/INT) while a job ran in-process."""


class JobTimeoutInterrupt(WorkerInterrupt):
    """The job's timeout expired while it ran in-process."""


class UndeliverableDelayedItem(InvalidJobError):
    """A due delayed item cannot be promoted (unreadable, or no queue can be found).

    The scheduler moves such an item to the failure store, never drops it.
    """


class TooManyJobs(PyresqueError, RuntimeError):
    """The test kit (``drain``, ``inline``) performed more jobs than its ``max_jobs``.

    Usually a job that enqueues itself forever; raise ``max_jobs`` if not.
    """


class WaitTimeout(PyresqueError, TimeoutError):
    """``app.tracked(id).wait(timeout)`` saw no final status within ``timeout`` seconds.

    Attributes:
        job_id: the job waited for.
        last: the status last read (WAITING or RUNNING), a
            :class:`~pyresque.core.status.StatusInfo`.
    """

    def __init__(self, message: str, job_id: str = "", last: StatusInfo | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.last = last
