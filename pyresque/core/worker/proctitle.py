"""Process titles in Ruby Resque's form, so ``ps`` (and a Ruby pruner) recognise ours."""

from __future__ import annotations

from pyresque._version import __version__

__all__ = ["get_title", "restore_title", "set_title", "title"]


def title(text: str) -> str:
    """``resque-<version>: <text>`` (Ruby's ``procline``)."""
    return f"resque-{__version__}: {text}"


def set_title(text: str) -> None:
    """Set this process's title (silently does nothing where setproctitle is missing)."""
    try:
        from setproctitle import setproctitle
    except ImportError:  # pragma: no cover - a dependency, but keep workers running
        return
    setproctitle(title(text))


def get_title() -> str | None:
    """This process's title now (``None`` where setproctitle is missing)."""
    try:
        from setproctitle import getproctitle
    except ImportError:  # pragma: no cover - a dependency
        return None
    return str(getproctitle())


def restore_title(previous: str | None) -> None:
    """Put back a title :func:`get_title` read (a worker run inside a user's process)."""
    if previous is None:
        return
    try:
        from setproctitle import setproctitle
    except ImportError:  # pragma: no cover - a dependency
        return
    setproctitle(previous)
