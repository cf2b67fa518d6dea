"""A job's own code, as the perform hooks call it: set_up, perform(*args), tear_down.

Two shapes of the same steps: :func:`make_runner` (sync, the ``runner()`` handed to the
``pyresque_perform`` hook) and :func:`async_body` (a coroutine, for an async job).
:func:`is_async_job` says which a target needs: an ``async def`` function, or a class
with any of ``perform``/``set_up``/``tear_down`` (``setUp``/``tearDown``) ``async def``.

A sync job whose call returns an awaitable anyway (a sync wrapper around an ``async
def``, a callable object with an async ``__call__``) is not done yet: the runner hands
the awaitable to ``awaiting`` (which runs it to completion) before ``tear_down``, so it
runs, or fails, like an async job; it never counts as done unrun.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pyresque.core.errors import InvalidJobError
from pyresque.core.job import Job

__all__ = ["PLAIN_RESULTS", "async_body", "is_async_job", "make_runner"]

log = logging.getLogger("pyresque.worker")

#: Methods of a job class, in the order they run (the camelCase forms are php-resque's).
_METHODS = ("perform", "set_up", "setUp", "tear_down", "tearDown")

_async_cache: dict[Any, bool] = {}
#: Result types that are never awaitable: checked first, so a plain result costs one
#: set lookup instead of ``inspect``'s isinstance chain (hot path).
PLAIN_RESULTS = frozenset({type(None), int, str, float, bool, list, dict, tuple, bytes})


def is_async_job(target: Any) -> bool:
    """Whether ``target`` (a resolved job class or function) needs an event loop."""
    try:
        return _async_cache[target]
    except KeyError:
        pass
    except TypeError:  # an unhashable callable object
        return _is_async(target)
    found = _async_cache[target] = _is_async(target)
    return found


def _is_async(target: Any) -> bool:
    if isinstance(target, type):
        return any(inspect.iscoroutinefunction(getattr(target, name, None)) for name in _METHODS)
    return inspect.iscoroutinefunction(target)


def _method(obj: Any, *names: str) -> Callable[..., Any] | None:
    for name in names:
        found = getattr(obj, name, None)
        if callable(found):
            return found  # type: ignore[no-any-return]
    return None


_Steps = tuple[Callable[..., Any], Callable[..., Any] | None, Callable[..., Any] | None]


def _instance(target: type, job: Job) -> _Steps:
    """A fresh instance's ``(perform, set_up, tear_down)``; it gets ``args`` (a list,
    php-resque style), ``job`` and ``queue`` attributes."""
    instance = target()
    try:
        instance.args = list(job.args)
        instance.job = job
        instance.queue = job.queue
    except AttributeError:  # __slots__ classes: their choice
        pass
    perform = _method(instance, "perform")
    if perform is None:
        raise InvalidJobError(f"job class {job.class_name} has no perform method")
    return perform, _method(instance, "set_up", "setUp"), _method(instance, "tear_down", "tearDown")


def make_runner(target: Any, job: Job, awaiting: Callable[[Awaitable[Any]], Any]) -> Callable[[], Any]:
    """``runner()`` for the perform hook: set_up, perform(*args), tear_down.

    A class is instantiated with no arguments (see :func:`_instance`); ``setUp``/
    ``tearDown`` are accepted too. ``tear_down`` runs whenever ``set_up`` succeeded,
    even if ``perform`` raised. A plain function is called with the args. An async job
    runs whole as :func:`async_body` through ``awaiting``; an awaitable a sync step
    returns goes through ``awaiting`` too.
    """
    args = job.args
    if is_async_job(target):
        return lambda: awaiting(async_body(target, job))
    if not isinstance(target, type):

        def call() -> Any:
            result = target(*args)
            if type(result) in PLAIN_RESULTS:
                return result
            if inspect.isawaitable(result):
                return awaiting(result)
            if inspect.isasyncgen(result):
                _refuse_generator(result, job)
            return result

        return call

    def step(fn: Callable[..., Any], *given: Any) -> Any:
        result = fn(*given)
        if type(result) in PLAIN_RESULTS:
            return result
        if inspect.isawaitable(result):
            return awaiting(result)
        if inspect.isasyncgen(result):
            _refuse_generator(result, job)
        return result

    def runner() -> Any:
        perform, set_up, tear_down = _instance(target, job)
        if set_up is not None:
            step(set_up)
        try:
            result = step(perform, *args)
        except BaseException:
            if tear_down is not None:
                try:
                    step(tear_down)
                except Exception:
                    log.exception("tear_down of %s failed after perform failed", job.class_name)
            raise
        if tear_down is not None:
            step(tear_down)
        return result

    return runner


def _refuse_generator(agen: Any, job: Job) -> None:
    """An async generator is never done (and was not started): fail the job."""
    raise InvalidJobError(
        f"job {job.class_name} returned an async generator: a job must return (it did not run)"
    )


async def _step(job: Job, fn: Callable[..., Any], *given: Any) -> Any:
    result = fn(*given)
    if inspect.isawaitable(result):
        result = await result
    elif inspect.isasyncgen(result):
        _refuse_generator(result, job)
    return result


async def async_body(target: Any, job: Job) -> Any:
    """The job's steps as one coroutine (sync steps are called, async ones awaited);
    ``tear_down`` runs after a failure, a cancellation (timeout) included."""
    args = job.args
    if not isinstance(target, type):
        return await _step(job, target, *args)
    perform, set_up, tear_down = _instance(target, job)
    if set_up is not None:
        await _step(job, set_up)
    try:
        result = await _step(job, perform, *args)
    except BaseException:
        if tear_down is not None:
            try:
                await _step(job, tear_down)
            except Exception:
                log.exception("tear_down of %s failed after perform failed", job.class_name)
        raise
    if tear_down is not None:
        await _step(job, tear_down)
    return result
