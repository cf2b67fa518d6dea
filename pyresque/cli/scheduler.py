"""``pyresque scheduler``: promote delayed jobs and run recurring schedules, as the leader.

Environment variables, as php-resque's ``resque-scheduler`` and Ruby's resque-scheduler
read them: ``INTERVAL``/``RESQUE_SCHEDULER_INTERVAL``, ``PREFIX``, ``REDIS_BACKEND``
(or ``REDIS_URL``), ``REDIS_BACKEND_DB``, ``APP_INCLUDE``, ``PIDFILE``, ``LOGGING``/
``VERBOSE``/``VVERBOSE``, ``LOCK_TIMEOUT``, ``RESQUE_SCHEDULER_MASTER_LOCK_PREFIX``,
``DELAYED_REQUEUE_BATCH_SIZE``, ``DYNAMIC_SCHEDULE``; plus pyresque's ``SCHEDULE_FILE``,
``DEFAULT_QUEUE`` and ``MISSED_TICKS``. Options override the environment.

Signals: INT, TERM and QUIT finish the current batch, release the lock and exit;
USR1 logs the schedules in force; USR2 reloads the schedule file (a broken file is
logged and the schedules in force are kept).

A bad endpoint (a refused password, a database the server lacks, a server that is not
Redis, an unreadable URL) is one line and exit status 1, as for ``pyresque worker``.

:func:`embedded_scheduler` builds the same scheduler for ``pyresque worker
--with-scheduler``, from the same environment variables (``RESQUE_SCHEDULER_INTERVAL``
for its interval: ``INTERVAL`` is the worker's).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from pyresque.cli.common import (
    backend_failure,
    backend_options,
    env_flag,
    make_app,
    resolve_logging_flags,
    setup_logging,
)
from pyresque.cli.shards import refuse_sharded
from pyresque.core.errors import BackendConnectionError, ConfigurationError, PyresqueError

if TYPE_CHECKING:
    from pyresque.core.app import Resque
    from pyresque.core.scheduling.scheduler import Scheduler
    from pyresque.core.worker import Worker

log = logging.getLogger("pyresque.scheduler")


def _write_pidfile(path: str) -> Path:
    pidfile = Path(path)
    try:
        pidfile.write_text(f"{os.getpid()}\n", encoding="ascii")
    except OSError as exc:
        raise click.ClickException(f"cannot write PIDFILE {path}: {exc}") from exc
    return pidfile


@click.command()
@backend_options
@click.option(
    "-i",
    "--interval",
    envvar=["INTERVAL", "RESQUE_SCHEDULER_INTERVAL"],
    type=click.FloatRange(min=0.001),
    default=5.0,
    show_default=True,
    help="Seconds between polls (env INTERVAL).",
)
@click.option(
    "-s",
    "--schedule",
    "schedule_file",
    envvar="SCHEDULE_FILE",
    type=click.Path(dir_okay=False),
    default=None,
    help="Recurring schedules: a .yml/.yaml, .toml or .json file (env SCHEDULE_FILE).",
)
@click.option("--pidfile", envvar="PIDFILE", default=None, help="Write the pid here (env PIDFILE).")
@click.option(
    "--lock-timeout",
    envvar="LOCK_TIMEOUT",
    type=click.IntRange(min=1),
    default=180,
    show_default=True,
    help="Seconds the leader lock lives without a refresh (env LOCK_TIMEOUT).",
)
@click.option(
    "--lock-prefix",
    envvar="RESQUE_SCHEDULER_MASTER_LOCK_PREFIX",
    default="",
    help="resque-scheduler's lock prefix (env RESQUE_SCHEDULER_MASTER_LOCK_PREFIX).",
)
@click.option(
    "--lock-style",
    envvar="LOCK_STYLE",
    type=click.Choice(["ruby", "node"]),
    default="ruby",
    show_default=True,
    help="Whose leader lock to share: resque-scheduler's (ruby) or node-resque's (env LOCK_STYLE).",
)
@click.option(
    "--no-lock",
    is_flag=True,
    default=False,
    help="Do not take the leader lock: every scheduler works (still exactly once).",
)
@click.option("--name", default=None, help="Lock value and failure 'worker' (default host:pid).")
@click.option(
    "--batch-size",
    envvar="DELAYED_REQUEUE_BATCH_SIZE",
    type=click.IntRange(1, 10_000),
    default=1000,
    show_default=True,
    help="Delayed items moved per round trip (env DELAYED_REQUEUE_BATCH_SIZE).",
)
@click.option(
    "--default-queue",
    envvar="DEFAULT_QUEUE",
    default=None,
    help="Queue for delayed items and schedules naming none (else: failure store).",
)
@click.option(
    "--dynamic/--no-dynamic",
    envvar="DYNAMIC_SCHEDULE",
    default=True,
    show_default=True,
    help="Also run the schedules stored in Redis (env DYNAMIC_SCHEDULE).",
)
@click.option(
    "--missed",
    envvar="MISSED_TICKS",
    type=click.Choice(["skip", "catch_up"]),
    default="skip",
    show_default=True,
    help="Recurring ticks missed while no scheduler ran (env MISSED_TICKS).",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds late a tick may still run under --missed skip.",
)
def scheduler(
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    logging_flag: bool | None,
    verbose: int,
    vverbose: bool | None,
    interval: float,
    schedule_file: str | None,
    pidfile: str | None,
    lock_timeout: int,
    lock_prefix: str,
    lock_style: str,
    no_lock: bool,
    name: str | None,
    batch_size: int,
    default_queue: str | None,
    dynamic: bool,
    missed: str,
    grace: float,
) -> None:
    """Run the scheduler: move due delayed jobs to their queues, enqueue recurring jobs.

    Compatible with Ruby resque-scheduler's keys and master lock: run several for
    availability; one leads, the others take over within --lock-timeout if it dies.
    """
    from pyresque.core.scheduling.schedule import load_schedule_file
    from pyresque.core.scheduling.scheduler import Scheduler

    app = make_app(redis, prefix, app_include, db=redis_db)
    try:
        refuse_sharded(app, "a scheduler (it moves one shard's delayed jobs, under that shard's lock)")
        probe_backend(app)  # a refused password, no such database, not Redis: one line, exit 1
    except click.ClickException:
        app.close()
        raise
    try:
        schedules = load_schedule_file(schedule_file) if schedule_file else []
        runner = Scheduler(
            app,
            schedules,
            interval=interval,
            lock_timeout=lock_timeout,
            lock_prefix=lock_prefix,
            lock_style=lock_style,
            use_lock=not no_lock,
            name=name,
            batch_size=batch_size,
            default_queue=default_queue,
            dynamic=dynamic,
            missed="catch_up" if missed == "catch_up" else "skip",
            grace=grace,
        )
    except (ConfigurationError, ValueError) as exc:
        app.close()
        raise click.ClickException(str(exc)) from exc
    setup_logging(*resolve_logging_flags(logging_flag, verbose, vverbose))
    for schedule in schedules:
        for key in schedule.unknown_keys():
            log.warning("schedule %r: key %r is not used by pyresque", schedule.name, key)

    def _stop(signum: int, frame: FrameType | None) -> Any:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        runner.stop()

    def _show(signum: int, frame: FrameType | None) -> Any:
        for name, schedule in sorted(runner.recurring.schedules.items()):
            log.warning("schedule %r: %s", name, schedule.to_config())
        if not runner.recurring.schedules:
            log.warning("no recurring schedule")

    def _reload(signum: int, frame: FrameType | None) -> Any:
        if not schedule_file:
            log.warning("USR2: no schedule file to reload")
            return
        try:
            runner.recurring.set_static(load_schedule_file(schedule_file))
        except ConfigurationError as exc:
            log.error("USR2: schedule file not reloaded, keeping the schedules in force: %s", exc)
            return
        log.warning("USR2: reloaded %d schedule(s) from %s", len(runner.recurring.static), schedule_file)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(sig, _stop)
    signal.signal(signal.SIGUSR1, _show)
    signal.signal(signal.SIGUSR2, _reload)
    written = _write_pidfile(pidfile) if pidfile else None
    try:
        _set_title(f"resque-scheduler-pyresque: {runner.name} schedules={len(schedules)}")
        runner.run()
    except Exception as exc:  # a permanent backend failure met while running
        permanent = backend_failure(app.backend, exc)
        if permanent is not None:
            raise click.ClickException(permanent) from exc
        if isinstance(exc, PyresqueError):
            raise click.ClickException(str(exc)) from exc
        raise
    finally:
        app.close()
        if written is not None:
            written.unlink(missing_ok=True)


def _set_title(title: str) -> None:
    try:
        import setproctitle

        setproctitle.setproctitle(title)
    except ImportError:  # pragma: no cover - setproctitle is a dependency
        pass


def probe_backend(app: object) -> None:
    """One PING before a long-running command starts (``scheduler``, ``worker``): a
    permanent backend failure (a refused password, a database the server lacks, a
    server that is not Redis) is one line here; an unreachable server is not (the
    command waits for it, retrying).

    Raises:
        click.ClickException: a failure that retrying cannot mend (or another pyresque
            error), in one line.
    """
    backend = getattr(app, "backend", None)
    ping = getattr(backend, "ping", None)
    if not callable(ping):
        return
    try:
        ping()
    except BackendConnectionError:
        return
    except Exception as exc:
        permanent = backend_failure(backend, exc)
        if permanent is not None:
            raise click.ClickException(permanent) from exc
        if isinstance(exc, PyresqueError):
            raise click.ClickException(str(exc)) from exc
        raise


def _env_int(env: Mapping[str, str], name: str, default: int, low: int, high: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise click.UsageError(f"{name}={raw!r} is not a whole number") from None
    if value < low or (high is not None and value > high):
        raise click.UsageError(f"{name}={raw!r} is out of range ({low}..{high or 'any'})")
    return value


def _env_choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip() or default
    if raw not in choices:
        raise click.UsageError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw


def embedded_scheduler(
    app: Resque,
    *,
    schedule_file: str | None,
    interval: float,
    env: Mapping[str, str] | None = None,
) -> Callable[[Worker], Scheduler]:
    """What ``pyresque worker --with-scheduler`` runs beside the worker: a factory of
    the :class:`~pyresque.core.scheduling.scheduler.Scheduler` that ``pyresque
    scheduler`` would run, with the same settings from the same environment variables
    (``LOCK_TIMEOUT``, ``RESQUE_SCHEDULER_MASTER_LOCK_PREFIX``, ``LOCK_STYLE``,
    ``DELAYED_REQUEUE_BATCH_SIZE``, ``DEFAULT_QUEUE``, ``DYNAMIC_SCHEDULE``,
    ``MISSED_TICKS``), so both share one leader lock.

    The settings and the schedule file are checked here, in the worker's process at
    start (a mistake is one line); the factory builds the scheduler in the companion
    process, its lock value the worker's ``host:pid``.

    Raises:
        click.ClickException: an invalid schedule file or setting.
    """
    from pyresque.core.scheduling.schedule import load_schedule_file
    from pyresque.core.scheduling.scheduler import Scheduler

    env = os.environ if env is None else env
    dynamic_raw = env.get("DYNAMIC_SCHEDULE")
    settings: dict[str, Any] = {
        "interval": interval,
        "lock_timeout": _env_int(env, "LOCK_TIMEOUT", 180, 1),
        "lock_prefix": env.get("RESQUE_SCHEDULER_MASTER_LOCK_PREFIX", ""),
        "lock_style": _env_choice(env, "LOCK_STYLE", "ruby", ("ruby", "node")),
        "batch_size": _env_int(env, "DELAYED_REQUEUE_BATCH_SIZE", 1000, 1, 10_000),
        "default_queue": env.get("DEFAULT_QUEUE") or None,
        "dynamic": True if dynamic_raw is None or not dynamic_raw.strip() else env_flag(dynamic_raw),
        "missed": _env_choice(env, "MISSED_TICKS", "skip", ("skip", "catch_up")),
    }
    try:
        schedules = load_schedule_file(schedule_file) if schedule_file else []
        Scheduler(app, schedules, **settings)  # checks the settings now, in one line
    except (ConfigurationError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    for schedule in schedules:
        for key in schedule.unknown_keys():
            log.warning("schedule %r: key %r is not used by pyresque", schedule.name, key)

    def build(worker: Worker) -> Scheduler:
        host_pid = ":".join(worker.id.split(":", 2)[:2])
        return Scheduler(app, schedules, name=host_pid, **settings)

    return build
