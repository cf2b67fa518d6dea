"""Job fixtures for worker tests (importable by name: workers resolve jobs by name)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from pyresque import DontPerform, Resque, hookimpl

#: Where jobs leave traces for tests to read (set by the test through the environment).
TRACE_ENV = "PYRESQUE_TEST_TRACE"


def _trace(line: str) -> None:
    path = os.environ.get(TRACE_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def noop(*args: Any) -> None:
    """Does nothing."""


def record(tag: Any) -> None:
    """Appends ``tag`` to the trace file (proves the job ran, and how often)."""
    _trace(str(tag))


def record_file(path: str) -> None:
    """Traces the content of the file at ``path``."""
    with open(path, encoding="utf-8") as fh:
        _trace(fh.read().strip())


def record_pid(tag: Any) -> None:
    """Appends ``tag`` and the pid of the process that ran it."""
    _trace(f"{tag} {os.getpid()}")


def stamp(t0: float) -> None:
    """Traces how long ago ``t0`` (its enqueue time) was, in seconds."""
    _trace(f"{time.time() - t0:.6f}")


def sleeper(seconds: float, tag: Any = None) -> str:
    """Sleeps, then traces ``tag``."""
    time.sleep(seconds)
    if tag is not None:
        _trace(str(tag))
    return "slept"


class Add:
    """Returns a + b (a class job with perform)."""

    def perform(self, a: int, b: int) -> int:
        return a + b


class WithHooks:
    """Traces set_up, perform (with self.args) and tear_down."""

    def set_up(self) -> None:
        _trace("set_up")

    def perform(self, *args: Any) -> None:
        _trace(f"perform {list(self.args)}")  # type: ignore[attr-defined]

    def tear_down(self) -> None:
        _trace("tear_down")


class CamelHooks:
    """php-resque style setUp/tearDown."""

    def setUp(self) -> None:
        _trace("setUp")

    def perform(self) -> None:
        _trace("perform")

    def tearDown(self) -> None:
        _trace("tearDown")


class FailSetUp:
    """set_up raises."""

    def set_up(self) -> None:
        raise ValueError("set_up broke")

    def perform(self) -> None:
        _trace("should not run")


class FailTearDown:
    """tear_down raises after a successful perform."""

    def perform(self) -> None:
        _trace("perform")

    def tear_down(self) -> None:
        raise ValueError("tear_down broke")


class SkipInSetUp:
    """set_up raises DontPerform: skipped, not failed."""

    def set_up(self) -> None:
        raise DontPerform("not today")

    def perform(self) -> None:
        _trace("should not run")


def boom(*args: Any) -> None:
    """Raises RuntimeError."""
    raise RuntimeError("boom é/x")


def exits(code: int = 3) -> None:
    """Raises SystemExit."""
    raise SystemExit(code)


def interrupts() -> None:
    """Raises KeyboardInterrupt."""
    raise KeyboardInterrupt("job said stop")


def hard_exit(code: int = 3) -> None:
    """Leaves the process at once (``os._exit``)."""
    os._exit(code)


def kill_self() -> None:
    """SIGKILLs its own process."""
    os.kill(os.getpid(), signal.SIGKILL)


def slow_forever() -> None:
    """Sleeps a long time (timeouts, signals)."""
    _trace("started")
    time.sleep(60)


def slow_forever_pid() -> None:
    """Traces its pid, then sleeps a long time."""
    _trace(f"pid {os.getpid()}")
    time.sleep(60)


class Quick:
    """A job with its own short timeout."""

    timeout = 0.5

    def perform(self) -> None:
        time.sleep(10)


def deaf_sleeper(seconds: float) -> None:
    """Blocks SIGALRM, then sleeps: only the parent's deadline can stop it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    _trace("started")
    time.sleep(seconds)


def stubborn(seconds: float) -> None:
    """Catches every interrupt (its timeout's too) and keeps going for ``seconds``."""
    _trace("started")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            time.sleep(0.05)
        except BaseException:  # the point: a job that will not stop
            _trace("ignored an interrupt")
    _trace("finished")


def write_lease_sleeper(seconds: float) -> None:
    """Traces, then sleeps (a job a paused or killed worker holds)."""
    _trace("started")
    time.sleep(seconds)
    _trace("finished")


def big_result(size: int) -> str:
    """Returns ``size`` characters (a large outcome handed from a child to its parent)."""
    return "r" * size


def big_failure(size: int) -> None:
    """Raises with a message of ``size`` characters."""
    raise ValueError("f" * size)


#: Set to "1" to register :class:`HookTracer` (traces every worker hook with its pid).
HOOKS_ENV = "PYRESQUE_TEST_HOOKS"


class HookTracer:
    """A plugin tracing each worker hook as ``<hook> <pid> [<class>]``."""

    def _t(self, name: str, job: Any = None) -> None:
        _trace(f"{name} {os.getpid()}" + (f" {job.class_name}" if job is not None else ""))

    @hookimpl
    def pyresque_before_first_fork(self, worker: Any) -> None:
        self._t("before_first_fork")

    @hookimpl
    def pyresque_before_fork(self, worker: Any, job: Any) -> None:
        self._t("before_fork", job)

    @hookimpl
    def pyresque_after_fork(self, worker: Any, job: Any) -> None:
        self._t("after_fork", job)

    @hookimpl
    def pyresque_before_perform(self, worker: Any, job: Any) -> None:
        self._t("before_perform", job)

    @hookimpl
    def pyresque_after_perform(self, worker: Any, job: Any, result: Any) -> None:
        self._t("after_perform", job)

    @hookimpl
    def pyresque_on_failure(self, worker: Any, job: Any, exception: BaseException) -> None:
        self._t(f"on_failure:{type(exception).__name__}", job)

    @hookimpl
    def pyresque_worker_exit(self, worker: Any) -> None:
        self._t("worker_exit")


def register(app: Resque) -> None:
    """Register every fixture under its plain name (APP_INCLUDE convention)."""
    if os.environ.get(HOOKS_ENV) == "1":
        app.hooks.register(HookTracer())
    for obj in (
        noop,
        record,
        record_pid,
        record_file,
        stamp,
        deaf_sleeper,
        sleeper,
        boom,
        exits,
        interrupts,
        hard_exit,
        kill_self,
        slow_forever,
        slow_forever_pid,
        stubborn,
        write_lease_sleeper,
        big_result,
        big_failure,
    ):
        app.job(obj, name=obj.__name__)
    for cls in (Add, WithHooks, CamelHooks, FailSetUp, FailTearDown, SkipInSetUp, Quick):
        app.job(cls, name=cls.__name__)


# -- async jobs (tests/integration/test_async_jobs_worker.py) ----------------------------
async def async_add(a: int, b: int) -> int:
    """An ``async def`` function job: awaits, traces its pid, returns a + b."""
    import asyncio

    await asyncio.sleep(0.001)
    _trace(f"async_add {os.getpid()}")
    return a + b


async def async_stream() -> Any:
    """An async generator: refused as a job (tests of the registry)."""
    yield 1


async def async_boom(message: str) -> None:
    """An ``async def`` job that fails after an await."""
    import asyncio

    await asyncio.sleep(0)
    raise RuntimeError(message)


def _context_line(tag: str) -> str:
    from pyresque import current_job

    info = current_job()
    if info is None:
        return f"{tag} none"
    return f"{tag} {info.class_name} {info.id} {info.queue} {info.worker_id.split(':')[1]} {os.getpid()}"


async def async_context() -> None:
    """Traces what ``current_job()`` says, in the job and in a task it starts."""
    import asyncio

    async def child() -> str:
        return _context_line("async-child")

    _trace(_context_line("async"))
    _trace(await asyncio.create_task(child()))


def sync_context() -> None:
    """Traces what ``current_job()`` says in a sync job."""
    _trace(_context_line("sync"))


class AsyncSteps:
    """A class job with async set_up, perform and tear_down (traced in order)."""

    async def set_up(self) -> None:
        _trace("steps set_up")

    async def perform(self, fail: bool) -> str:
        import asyncio

        await asyncio.sleep(0)
        _trace(f"steps perform {fail}")
        if fail:
            raise ValueError("steps failed")
        return "steps done"

    async def tear_down(self) -> None:
        _trace("steps tear_down")


class AsyncSlow:
    """An async job past its 0.5 s timeout: awaiting, swallowing the cancellation, or
    blocking its loop (only the timer signal reaches that one)."""

    timeout = 0.5

    async def perform(self, how: str) -> str:
        import asyncio

        try:
            if how == "block":
                time.sleep(20)
            else:
                await asyncio.sleep(20)
        except asyncio.CancelledError:
            _trace(f"slow {how} cancelled")
            if how == "swallow":
                return "pretends it finished"
            raise
        _trace(f"slow {how} NOT STOPPED")
        return "finished"


async def async_leaky() -> str:
    """Leaves a task running when it returns; the task traces whether it was cancelled."""
    import asyncio

    async def forgotten() -> None:
        try:
            await asyncio.sleep(0.5)
            _trace("leftover SURVIVED its job")
        except asyncio.CancelledError:
            _trace("leftover cancelled")
            raise

    asyncio.get_running_loop().create_task(forgotten())
    await asyncio.sleep(0)
    return "leaked"


async def async_loop_id(tag: str) -> None:
    """Traces the id of the running loop and the pid (loop reuse within a process)."""
    import asyncio

    _trace(f"loop {tag} {os.getpid()} {id(asyncio.get_running_loop())}")


# -- the async worker (tests/integration/test_async_worker*.py) --------------------------
async def aw_sleep(seconds: float, tag: Any) -> str:
    """Traces ``start <tag> <t>``, sleeps on the loop, traces ``end <tag> <t>`` (overlap)."""
    import asyncio

    _trace(f"start {tag} {time.time():.6f}")
    await asyncio.sleep(seconds)
    _trace(f"end {tag} {time.time():.6f}")
    return "slept"


def aw_sync_sleep(seconds: float, tag: Any) -> str:
    """The sync twin of :func:`aw_sleep` (runs in the async worker's job threads)."""
    _trace(f"start {tag} {time.time():.6f}")
    time.sleep(seconds)
    _trace(f"end {tag} {time.time():.6f}")
    return "slept"


async def aw_block_loop(seconds: float) -> None:
    """Blocks the event loop it runs on (sync sleep inside an async def)."""
    _trace("blocking")
    time.sleep(seconds)
    _trace("unblocked")


async def aw_forever(tag: Any) -> None:
    """Traces, then awaits a long time (timeouts, signals, kill -9)."""
    import asyncio

    _trace(f"running {tag}")
    await asyncio.sleep(120)
    _trace(f"finished {tag}")


def aw_sync_forever(tag: Any) -> None:
    """Traces, then sleeps a long time in its thread (timeouts, signals)."""
    _trace(f"running {tag}")
    time.sleep(120)
    _trace(f"finished {tag}")


async def aw_noop() -> None:
    """An async job that does nothing."""


async def async_sleeper(seconds: float, tag: str) -> None:
    """Traces ``started``, awaits ``seconds``, traces ``tag``; traces ``cleaned up`` on
    the way out whatever happened (a cancellation reaches its ``finally``)."""
    import asyncio

    _trace("started")
    try:
        await asyncio.sleep(seconds)
        _trace(tag)
    finally:
        _trace("cleaned up")
