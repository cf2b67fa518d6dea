"""prometheus-client's multiprocess mode, per worker process: what lets forked children count.

Start with :class:`MetricsDirectory` (a directory this process owns, multiprocess mode on
while it lives) and :func:`multiprocess_registry` (a scrape of the directory);
:func:`serve` exposes a registry over HTTP. :class:`~pyresque.observability.metrics.PrometheusMetrics`
takes the directory as ``multiprocess_dir``.

Files are named per *worker process*, not per child: ``<pid>`` for a worker (or any
process) and ``<worker pid>c`` for its children, which run one at a time and take turns
on that file (each reads it back on its first sample). :class:`_Identity` holds which
worker this process serves (set by the plugin's ``before_first_fork``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from pyresque.core.errors import ConfigurationError

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = [
    "MetricsDirectory",
    "disable_multiprocess",
    "enable_multiprocess",
    "multiprocess_registry",
    "serve",
]


# -- multiprocess identity -------------------------------------------------------------
class _Identity:
    """Which file this process writes: ``<pid>`` for a worker (or any process), ``<owner
    pid>c`` for a forked child of worker ``owner``. Children of one worker run one at a
    time, so they share one file; ``as_child`` lets the worker write its child's file
    (to zero the in-progress gauge of a child it killed or saw die)."""

    owner: int | None = None
    as_child = False


def _identity() -> str:
    pid = os.getpid()
    owner = _Identity.owner
    if owner is None or (pid == owner and not _Identity.as_child):
        return str(pid)
    return f"{owner}c"

_multiprocess_dir: str | None = None
_setup_lock = threading.Lock()
#: what :func:`enable_multiprocess` replaced: (ValueClass, PROMETHEUS_MULTIPROC_DIR)
_saved: tuple[Any, str | None] | None = None


def enable_multiprocess(directory: str) -> None:
    """Write every metric created from now on in this process (and its forks) to
    ``directory`` (prometheus-client's multiprocess mode, with per-worker files).

    Sets ``PROMETHEUS_MULTIPROC_DIR``, which prometheus-client reads as it opens a file.
    One directory per process: calling again with the same one does nothing.

    Raises:
        ConfigurationError: another directory is already in use in this process, or
            ``directory`` is not a directory.
    """
    global _multiprocess_dir, _saved
    directory = os.path.abspath(directory)
    if not os.path.isdir(directory):
        raise ConfigurationError(f"metrics directory {directory!r} does not exist")
    with _setup_lock:
        if _multiprocess_dir == directory:
            return
        if _multiprocess_dir is not None:
            raise ConfigurationError(
                f"this process already writes metrics to {_multiprocess_dir!r}, not {directory!r}"
            )
        _saved = (values.ValueClass, os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        values.ValueClass = values.MultiProcessValue(process_identifier=_identity)  # type: ignore[no-untyped-call]
        _multiprocess_dir = directory


def disable_multiprocess() -> None:
    """Undo :func:`enable_multiprocess`: close the files, restore the value class and
    ``PROMETHEUS_MULTIPROC_DIR``. Metrics made meanwhile must not be used any more."""
    global _multiprocess_dir, _saved
    with _setup_lock:
        if _saved is None:
            return
        values.close_all_multiprocess_files()  # type: ignore[no-untyped-call]
        value_class, env = _saved
        values.ValueClass = value_class
        if env is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = env
        _multiprocess_dir = None
        _saved = None
        _Identity.owner = None


_LIVE_FILE = re.compile(r"gauge_live\w*?_(\d+)c?\.db")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _PruningCollector(Collector):
    """The directory's samples, after removing the live gauges of dead worker processes
    (their counters stay: a count never goes back). A file another process is creating
    this instant (shorter than its header) is left for the next scrape."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def collect(self) -> Iterable[Metric]:
        files = []
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.directory):
                path = os.path.join(self.directory, name)
                match = _LIVE_FILE.fullmatch(name)
                if match and not _alive(int(match.group(1))):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(path)
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if name.endswith(".db") and os.path.getsize(path) >= 8:
                        files.append(path)
        return MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call,no-any-return]


def multiprocess_registry(directory: str) -> CollectorRegistry:
    """A registry whose scrape sums every process's samples in ``directory``."""
    registry = CollectorRegistry()
    registry.register(_PruningCollector(directory))
    return registry


class MetricsDirectory:
    """A multiprocess directory this process owns: made on entry (a fresh temporary one
    unless ``path`` is given, which is emptied of old ``*.db`` files), enabled with
    :func:`enable_multiprocess`, and on exit disabled (:func:`disable_multiprocess`)
    and removed (or emptied). Create the plugins inside it."""

    def __init__(self, path: str | None = None) -> None:
        self.given = path
        self.path = ""

    def __enter__(self) -> MetricsDirectory:
        if self.given is None:
            self.path = tempfile.mkdtemp(prefix="pyresque-metrics-")
        else:
            self.path = os.path.abspath(self.given)
            os.makedirs(self.path, exist_ok=True)
            self._wipe()
        enable_multiprocess(self.path)
        return self

    def _wipe(self) -> None:
        for name in os.listdir(self.path):
            if name.endswith(".db"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(self.path, name))

    def __exit__(self, *exc_info: object) -> None:
        disable_multiprocess()
        if self.given is None:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            self._wipe()


def serve(port: int, registry: CollectorRegistry, addr: str = "0.0.0.0") -> Callable[[], None]:
    """Serve ``registry`` on ``http://addr:port/metrics`` from a daemon thread; returns
    a function that stops the server."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=addr, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(2)

    return stop
