"""Hook specifications: every event pyresque emits, with when and where it runs.

Implement any of these in a plugin with ``@pyresque.hookimpl``; an implementation may
take any subset of the arguments (so specs can gain arguments without breaking
plugins). Each spec says in which process it runs, what its return value means and
what an exception raised by an implementation does. Two policies exist:

- **propagates**: the first exception stops the remaining implementations and
  reaches the operation that called the hook (an enqueue, a job run ...);
- **logged and ignored**: each implementation runs on its own; one raising is logged
  (logger ``pyresque.hooks.manager``) and the others still run.

Implementations run in LIFO registration order (the built-in plugins first
registered, so they run last) unless marked ``tryfirst``/``trylast``. The worker
passes itself as ``worker``: ``worker.app`` is the app, ``worker.id`` its Resque id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyresque.hooks import hookspec

if TYPE_CHECKING:
    from pyresque.core.app import Resque
    from pyresque.core.job import Job
    from pyresque.core.worker import Worker


# --- enqueue / dequeue (client process) ---------------------------------------------
@hookspec
def pyresque_before_enqueue(app: Resque, job: Job) -> None:
    """Before a job is written, by ``enqueue``/``enqueue_many`` (client process).

    Ruby ``before_enqueue``, php-resque ``beforeEnqueue``. Job class hooks:
    ``before_enqueue*`` (returning ``False`` vetoes).

    Returns: nothing. Raise :class:`pyresque.DontEnqueue` to veto: nothing is written
    and ``enqueue`` raises ``DontEnqueue`` to its caller (for ``enqueue_many``, nothing
    of the batch is written).

    Exceptions: propagate; nothing is written.
    """


@hookspec
def pyresque_after_enqueue(app: Resque, job: Job) -> None:
    """After a job was written (client process).

    Ruby ``after_enqueue``, php-resque ``afterEnqueue``. Job class hooks: ``after_enqueue*``.

    Exceptions: propagate to the caller; the job stays enqueued.
    """


@hookspec
def pyresque_before_dequeue(app: Resque, queue: str, job: Job) -> None:
    """Before ``dequeue`` removes a matching job from ``queue`` (client process).

    Ruby ``before_dequeue``. Job class hooks: ``before_dequeue*`` (returning ``False``
    keeps the job).

    Returns: nothing. Raise :class:`pyresque.DontEnqueue` to keep that job queued.

    Exceptions: any other exception propagates; nothing is removed.
    """


@hookspec
def pyresque_after_dequeue(app: Resque, queue: str, job: Job) -> None:
    """After ``dequeue`` removed a job from ``queue`` (client process).

    Ruby ``after_dequeue``. Job class hooks: ``after_dequeue*``.

    Exceptions: propagate to the caller; the job stays removed.
    """


# --- worker lifecycle ---------------------------------------------------------------
@hookspec
def pyresque_before_first_fork(worker: Worker) -> None:
    """Once per worker, after it registered and before it reserves its first job.

    Process: the worker (parent). php-resque ``beforeFirstFork``, Ruby
    ``before_first_fork``. Plugins registered here run in forked children too: a
    child is a fork of this process.

    Exceptions: propagate and stop the worker before it takes any job (it unregisters).
    """


@hookspec
def pyresque_before_fork(worker: Worker, job: Job) -> None:
    """Before the worker forks a child for ``job`` (in-process mode: just before the job).

    Process: the worker (parent), in every execution mode. php-resque ``beforeFork``,
    Ruby ``before_fork``.

    Exceptions: fail the job (a failure record, ``on_failure`` hooks run); the worker
    keeps working.
    """


@hookspec
def pyresque_after_fork(worker: Worker, job: Job) -> None:
    """Right after the fork, before ``before_perform``.

    Process: the child; forking modes only (in fork-every-N mode, once per child,
    for its first job). php-resque ``afterFork``, Ruby ``after_fork``.

    Exceptions: fail the job.
    """


@hookspec
def pyresque_job_started(worker: Worker, job: Job) -> Callable[[BaseException | None], None] | None:
    """As a job starts running, before ``before_perform``, in the process that performs it.

    The cheap way to run code around every job (timers, spans, gauges): no generator
    and no pluggy wrapper on the hot path (a ``pyresque_perform`` wrapper costs
    microseconds per job). Not called for a payload that is not a job, nor for a class
    the worker cannot resolve.

    Returns: ``None``, or a callable ``finish(exception)`` called exactly once when the
    run ended, after ``after_perform`` and before ``on_failure``, with ``None`` (the job
    succeeded, its ``after_perform`` hooks too), a :class:`pyresque.DontPerform` (the
    job was skipped by ``before_perform`` or ``set_up``) or the exception that failed
    it. Finishers run in the reverse order of the starts (the first started finishes
    last), in the same thread and context as the job, so a context variable set at the
    start (an OpenTelemetry span made current) is seen by the job and undone at the end.

    Exceptions: one raised by an implementation fails the job (the ones already started
    are finished with it); one raised by ``finish`` is logged and ignored.
    """


@hookspec
def pyresque_before_perform(worker: Worker, job: Job) -> None:
    """Before ``set_up``/``perform``, in the process that performs the job.

    Ruby ``before_perform``, php-resque ``beforePerform``. Job class hooks:
    ``before_perform*``. The job's status is RUNNING; its stats are not counted yet.

    Returns: nothing. Raise :class:`pyresque.DontPerform` to skip the job: it is not
    performed, not failed, and counts as processed.

    Exceptions: any other exception fails the job.
    """


@hookspec(firstresult=True)
def pyresque_perform(worker: Worker, job: Job, runner: Callable[[], Any]) -> Any:
    """Performs the job; ``runner()`` runs ``set_up``, ``perform`` and ``tear_down``.

    Process: the one that performs the job. Implement it as a pluggy wrapper
    (``@hookimpl(wrapper=True)``, a generator that ``yield``s once and returns the
    result) to run code around the job: Ruby's ``around_perform``. Job class hooks:
    ``around_perform*`` (generators; the first in name order is outermost).

    Returns: the job's result. The built-in implementation (``trylast``) returns
    ``runner()``; a non-wrapper implementation returning something other than
    ``None`` replaces the job (it is then not run).

    Exceptions: fail the job (``DontPerform`` skips it).
    """


@hookspec
def pyresque_after_perform(worker: Worker, job: Job, result: Any) -> None:
    """After the job succeeded, in the process that performed it.

    Ruby ``after_perform``, php-resque ``afterPerform``. Job class hooks:
    ``after_perform*``. Not called when the job failed or was skipped. The job's
    status, stats and ``worker:<id>`` record are written after this hook.

    Exceptions: fail the job.
    """


@hookspec
def pyresque_on_failure(worker: Worker, job: Job, exception: BaseException) -> bool | None:
    """After the job failed, before the failure record is written.

    Process: the one that performed the job, or the worker for failures it detects
    itself (``DirtyExit`` of a killed child, ``JobTimeoutError``, and ``WorkerLost``
    or ``DirtyExit`` for jobs of dead workers found by pruning, where ``worker`` is
    the pruning worker). Ruby ``on_failure``, php-resque ``onFailure``. Job class
    hooks: ``on_failure*(exception, *args)``.

    Returns: ``True`` to say the failure was handled (the retry plugin re-scheduled
    the job, or wrote its own record): the worker counts it as failed but writes no
    failure record. ``None``/``False``: the worker writes the record.

    Exceptions: logged and ignored; the other implementations still run and the
    failure is recorded regardless.
    """


@hookspec
def pyresque_after_recover(
    worker: Worker, job: Job | None, queue: str, requeued: bool, exception: BaseException
) -> None:
    """After a held job whose runner is gone was released, exactly once per release.

    Process: the worker that released it (pruning a dead worker: ``exception`` is a
    :class:`pyresque.WorkerLost`; a parent after its child's dirty exit, or a worker
    restarting under the same id: a :class:`pyresque.DirtyExit`; a graceful stop that
    puts the job back). ``requeued``: pushed back to the front of ``queue``
    (``--recover requeue``, or a graceful stop); else failed (its ``on_failure`` hooks
    ran before). ``job`` is ``None`` for a payload that is not a job (failed, kept
    raw). When the release's reply was lost, the hook runs once the worker saw the
    release happened (its next prune, at the latest), never twice.

    Exceptions: logged and ignored.
    """


@hookspec
def pyresque_queue_empty(worker: Worker) -> None:
    """When a polling pass found every queue empty, before the worker waits (worker
    process; not in burst mode, which stops instead). Ruby ``queue_empty``.

    Exceptions: logged and ignored.
    """


@hookspec
def pyresque_before_pause(worker: Worker) -> None:
    """When the worker is paused (USR2), before it stops reserving (worker process).
    Ruby ``before_pause``.

    Exceptions: logged and ignored.
    """


@hookspec
def pyresque_after_pause(worker: Worker) -> None:
    """When the worker resumes (CONT) after a pause (worker process). Ruby ``after_pause``.

    Exceptions: logged and ignored.
    """


@hookspec
def pyresque_shutdown(worker: Worker) -> None:
    """When the worker is told to shut down (QUIT/TERM/INT), before it stops
    (worker process, from the signal handler's intent). Ruby ``shutdown``.

    Exceptions: logged and ignored.
    """


@hookspec
def pyresque_worker_exit(worker: Worker) -> None:
    """As the worker exits, before it unregisters (worker process). Ruby ``worker_exit``.

    Exceptions: logged and ignored.
    """


# --- scheduler ----------------------------------------------------------------------
@hookspec
def pyresque_before_schedule(app: Resque, timestamp: int, job: Job) -> None:
    """Before a delayed job is written for ``timestamp`` by ``enqueue_at``/``enqueue_in``
    (client process; not for a time already due, which enqueues at once).

    ``job.id`` is the job's id in the full payload form, ``None`` in the Ruby form.
    String ``traceparent``/``tracestate`` entries an implementation puts in
    ``job.extra`` are written into a full-form item (between ``queue`` and ``id``), so
    the job carries them to its queue when the scheduler moves it (the tracing plugin
    does this); a Ruby-form item stays resque-scheduler's exact bytes.

    Exceptions: propagate to the caller; nothing is written.
    """


@hookspec
def pyresque_after_schedule(app: Resque, timestamp: int, job: Job) -> None:
    """After a delayed job was written for ``timestamp`` by ``enqueue_at``/``enqueue_in``
    (client process). php-resque-scheduler ``afterSchedule``, resque-scheduler
    ``after_schedule``. Job class hooks: ``after_schedule*``. ``job`` has no id (a
    delayed item carries none).

    Exceptions: propagate to the caller; the item stays scheduled.
    """


@hookspec
def pyresque_before_delayed_enqueue(app: Resque, job: Job) -> None:
    """In the scheduler, before a due delayed job is pushed to its queue.

    php-resque-scheduler ``beforeDelayedEnqueue``, resque-scheduler
    ``before_delayed_enqueue``. Job class hooks: ``before_delayed_enqueue*``.

    Exceptions: logged and ignored; the job is enqueued regardless (a delayed job is
    never lost to a hook).
    """
