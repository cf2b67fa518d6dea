"""``pyresque metrics``: a Prometheus exporter that reads the Resque Redis on each scrape.

It counts what every worker on that Redis does (Ruby, PHP, node, pyresque): see
:mod:`pyresque.observability.exporter` for the metrics. Needs ``pyresque[metrics]``.
Stops on INT/TERM/QUIT. A bad endpoint or a port in use is one line and exit status 1.

:func:`worker_observability` is what ``pyresque worker --metrics-port P --log-format
json`` sets up around its workers.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING

import click
from redis import RedisError

from pyresque.cli.common import (
    backend_failure,
    backend_options,
    make_app,
    resolve_logging_flags,
    setup_logging,
)
from pyresque.core.errors import PyresqueError

if TYPE_CHECKING:
    from pyresque.core.app import Resque


@click.command("metrics")
@click.option("--port", type=click.IntRange(0, 65535), default=9121, show_default=True, help="HTTP port.")
@click.option("--addr", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option(
    "--once", is_flag=True, help="Print one scrape on stdout and exit (node_exporter's textfile collector)."
)
@backend_options
def metrics(
    port: int,
    addr: str,
    once: bool,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    logging_flag: bool | None,
    verbose: int,
    vverbose: bool | None,
) -> None:
    """Serve Prometheus metrics read from Redis at http://ADDR:PORT/metrics (or print one
    scrape with --once)."""
    setup_logging(*resolve_logging_flags(logging_flag, verbose, vverbose))
    try:
        from pyresque.observability.exporter import exporter_registry
        from pyresque.observability.metrics import serve
    except ImportError as exc:
        raise click.ClickException(
            f"pyresque metrics needs prometheus-client: pip install 'pyresque[metrics]' ({exc})"
        ) from exc
    app = make_app(redis, prefix, app_include, db=redis_db)
    try:
        registry = exporter_registry(app)
        registry.get_sample_value("resque_failed_jobs")  # one scrape now: a bad endpoint says so at once
    except (PyresqueError, RedisError) as exc:
        why = backend_failure(app.backend, exc) or f"cannot read the backend: {exc}"
        raise click.ClickException(why) from exc
    if once:
        from prometheus_client import generate_latest

        click.echo(generate_latest(registry).decode(), nl=False)
        app.close()
        return
    try:
        stop = serve(port, registry, addr)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {addr}:{port}: {exc.strerror or exc}") from exc
    done = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        done.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(sig, stopping)
    click.echo(f"serving Resque metrics on http://{addr}:{port}/metrics", err=True)
    try:
        done.wait()
    finally:
        stop()
        app.close()


@contextlib.contextmanager
def worker_observability(
    metrics_port: int | None, log_format: str = "text"
) -> Iterator[Callable[[Resque], None]]:
    """For ``pyresque worker``: with ``metrics_port``, a multiprocess directory this
    process owns (removed on exit) served on that port; yields the function that
    registers the plugins on each worker's app (metrics, and the worker id for JSON logs).

    Raises:
        click.ClickException: prometheus-client is missing, or the port cannot be bound.
    """
    plugins: list[Callable[[], object]] = []
    if log_format == "json":
        from pyresque.observability.jsonlog import WorkerTag

        plugins.append(WorkerTag)

    def register(app: Resque) -> None:
        for make in plugins:
            app.plugins.register(make())

    if metrics_port is None:
        yield register
        return
    try:
        from pyresque.observability import metrics as obs
    except ImportError as exc:
        raise click.ClickException(
            f"--metrics-port needs prometheus-client: pip install 'pyresque[metrics]' ({exc})"
        ) from exc
    with obs.MetricsDirectory() as directory:
        try:
            stop = obs.serve(metrics_port, obs.multiprocess_registry(directory.path))
        except OSError as exc:
            why = exc.strerror or exc
            raise click.ClickException(f"cannot serve metrics on port {metrics_port}: {why}") from exc
        plugins.append(lambda: obs.PrometheusMetrics(multiprocess_dir=directory.path))
        try:
            yield register
        finally:
            stop()
