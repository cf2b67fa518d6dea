"""``pyresque worker``: run workers, configured by options or Resque's environment variables.

``QUEUE``/``QUEUES``, ``INTERVAL``, ``BLOCKING``, ``COUNT``, ``PIDFILE``, ``PREFIX``,
``REDIS_BACKEND``/``REDIS_BACKEND_DB``/``REDIS_URL``, ``LOGGING``/``VERBOSE``/
``VVERBOSE`` and ``APP_INCLUDE`` mean what they mean to php-resque and Ruby Resque.
``WITH_SCHEDULER`` (``--with-scheduler``) runs the scheduler beside the worker, under
the leader lock ``pyresque scheduler`` takes (:func:`~pyresque.cli.scheduler.embedded_scheduler`).

What it logs by default (``pyresque.worker`` at INFO, ``pyresque.worker.jobs`` at
WARNING): a start line, a line per failed job, a stop line; ``-v`` adds a line per job.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import click

from pyresque.cli.common import (
    backend_failure,
    backend_options,
    make_app,
    resolve_logging_flags,
    setup_logging,
)
from pyresque.cli.metrics import worker_observability
from pyresque.cli.scheduler import embedded_scheduler, probe_backend
from pyresque.core.errors import ConfigurationError, PyresqueError
from pyresque.core.worker import Worker, WorkerOptions
from pyresque.core.worker.companion import Companion
from pyresque.core.worker.voice import JOBS_LOGGER

log = logging.getLogger("pyresque.worker")


@contextlib.contextmanager
def write_pidfile(path: str | None) -> Iterator[None]:
    """Write this process's pid to ``path`` while running; remove it on exit."""
    if not path:
        yield
        return
    with open(path, "w", encoding="ascii") as fh:
        fh.write(f"{os.getpid()}\n")
    pid = os.getpid()
    try:
        yield
    finally:
        if os.getpid() == pid:
            with contextlib.suppress(OSError):
                os.unlink(path)


@click.command()
@click.option(
    "-q",
    "--queue",
    "--queues",
    "queue",
    envvar=["QUEUE", "QUEUES"],
    default=None,
    help="Queues in priority order, comma-separated; '*' = all, globs and '!excluded' (env QUEUE/QUEUES).",
)
@click.option(
    "--interval",
    envvar="INTERVAL",
    type=float,
    default=5.0,
    show_default=True,
    help="Longest idle wait in seconds before polling again (env INTERVAL).",
)
@click.option(
    "--blocking/--no-blocking",
    envvar="BLOCKING",
    default=True,
    help="Accepted for php-resque compatibility: idle waits always block (env BLOCKING).",
)
@click.option(
    "-c",
    "--count",
    envvar="COUNT",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Number of workers; more than 1 runs them under a supervisor (env COUNT).",
)
@click.option("--pidfile", envvar="PIDFILE", default=None, help="Write the pid here (env PIDFILE).")
@click.option(
    "--mode",
    type=click.Choice(["fork", "fork-every", "inprocess", "async"]),
    envvar="PYRESQUE_WORKER_MODE",
    default="fork",
    show_default=True,
    help="fork: a child per job (Resque's); fork-every: a child runs --jobs-per-child jobs; "
    "inprocess: no fork.",
)
@click.option(
    "--concurrency",
    envvar="PYRESQUE_WORKER_CONCURRENCY",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="--mode async: jobs at once in the one process (env PYRESQUE_WORKER_CONCURRENCY).",
)
@click.option("--jobs-per-child", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--timeout", type=float, default=None, help="Default job timeout in seconds.")
@click.option("--burst", is_flag=True, help="Drain the queues, then exit.")
@click.option(
    "--graceful-term",
    type=float,
    default=None,
    help="TERM lets the running job finish within this many seconds, then requeues it.",
)
@click.option("--term-timeout", type=float, default=4.0, show_default=True, help="Seconds from TERM to KILL.")
@click.option("--heartbeat-interval", type=float, default=60.0, show_default=True)
@click.option("--prune-interval", type=float, default=300.0, show_default=True)
@click.option(
    "--recover",
    type=click.Choice(["fail", "requeue"]),
    default="fail",
    show_default=True,
    help="What happens to a dead worker's job: recorded failed (Resque) or requeued.",
)
@click.option("--serializer", type=click.Choice(["json", "msgpack"]), default="json", show_default=True)
@click.option(
    "--with-scheduler",
    is_flag=True,
    envvar="WITH_SCHEDULER",
    default=False,
    help="Also promote delayed jobs and run recurring schedules, in a process beside the worker, "
    "under the leader lock of 'pyresque scheduler' (env WITH_SCHEDULER).",
)
@click.option(
    "--schedule",
    "schedule_file",
    envvar="SCHEDULE_FILE",
    type=click.Path(dir_okay=False),
    default=None,
    help="With --with-scheduler: recurring schedules, a .yml/.yaml, .toml or .json file (env SCHEDULE_FILE).",
)
@click.option(
    "--scheduler-interval",
    envvar="RESQUE_SCHEDULER_INTERVAL",
    type=click.FloatRange(min=0.001),
    default=5.0,
    show_default=True,
    help="With --with-scheduler: seconds between scheduler polls (env RESQUE_SCHEDULER_INTERVAL).",
)
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None, help="Serve Prometheus metrics.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@backend_options
def worker(
    queue: str | None,
    interval: float,
    blocking: bool,
    count: int,
    pidfile: str | None,
    mode: str,
    concurrency: int,
    jobs_per_child: int,
    timeout: float | None,
    burst: bool,
    graceful_term: float | None,
    term_timeout: float,
    heartbeat_interval: float,
    prune_interval: float,
    recover: str,
    serializer: str,
    with_scheduler: bool,
    schedule_file: str | None,
    scheduler_interval: float,
    metrics_port: int | None,
    log_format: str,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    logging_flag: bool | None,
    verbose: int,
    vverbose: bool | None,
) -> None:
    """Run a Resque worker (or COUNT of them) on the given queues."""
    flags = resolve_logging_flags(logging_flag, verbose, vverbose)
    setup_logging(*flags, log_format=log_format)
    quiet = not any(flags)  # the default: start, stop and failures, not every job
    logging.getLogger("pyresque.worker").setLevel(logging.INFO if quiet else logging.NOTSET)
    logging.getLogger(JOBS_LOGGER).setLevel(logging.WARNING if quiet else logging.NOTSET)
    source = click.get_current_context().get_parameter_source("schedule_file")
    if schedule_file and not with_scheduler and source is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("--schedule works with --with-scheduler only")
    if not queue:
        raise click.UsageError("set the queues: QUEUE=high,low (or --queue), '*' for all")
    queues = [q.strip() for q in queue.split(",") if q.strip()]
    options = {
        "mode": mode,
        "jobs_per_child": jobs_per_child,
        "interval": interval,
        "timeout": timeout,
        "burst": burst,
        "graceful_term": graceful_term,
        "term_timeout": term_timeout,
        "heartbeat_interval": heartbeat_interval,
        "prune_interval": prune_interval,
        "recover": recover,
        "concurrency": concurrency,
    }

    def build() -> Worker:
        app = make_app(redis, prefix, app_include, db=redis_db, serializer=serializer)
        observe(app)  # --metrics-port, --log-format json (pyresque.cli.metrics)
        companions = []
        if with_scheduler:
            scheduler = embedded_scheduler(app, schedule_file=schedule_file, interval=scheduler_interval)
            companions.append(Companion("scheduler", scheduler))
        try:
            if mode == "async":
                from pyresque.core.worker.aio import AsyncWorker

                return AsyncWorker(app, queues, WorkerOptions(**options), companions=companions)  # type: ignore[arg-type]
            return Worker(app, queues, WorkerOptions(**options), companions=companions)  # type: ignore[arg-type]
        except (ConfigurationError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc

    with write_pidfile(pidfile), worker_observability(metrics_port, log_format) as observe:
        if count > 1:
            from pyresque.core.worker.supervisor import Supervisor

            probe = build().app  # fail fast on bad settings, before any fork
            try:
                probe_backend(probe)
            finally:
                probe.close()
            Supervisor(build, count).run()
            return
        built = build()
        try:
            built.work()
            if built.exit_logged:  # it stopped, but could not clean up after itself
                raise SystemExit(1)
        except Exception as exc:
            if built.exit_logged:  # its stop line said why, once: no second message
                raise SystemExit(1) from None
            permanent = backend_failure(built.app.backend, exc)
            if permanent is not None:
                raise click.ClickException(permanent) from exc
            if isinstance(exc, built.app.backend.connection_errors):
                raise click.ClickException(f"stopped while the backend was unreachable: {exc}") from exc
            if isinstance(exc, PyresqueError):
                raise click.ClickException(str(exc)) from exc
            raise
