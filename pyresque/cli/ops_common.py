"""What every operator command shares: backend options, the app, errors, and output.

Output is a readable table by default and JSON with ``--json`` (one document on
stdout, for scripts). Errors go to stderr with exit status 1 (click's convention);
a backend that cannot be reached, refuses the password, lacks the database or is not
Redis is reported in one line by name, never with its password.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from pyresque.cli.common import backend_failure, connection_options, make_app
from pyresque.core.app import Resque
from pyresque.core.errors import PyresqueError

__all__ = [
    "emit_json",
    "json_option",
    "operator_app",
    "ops_backend_options",
    "parse_json_args",
    "print_table",
    "shorten",
    "split_worker_id",
    "yes_option",
]

F = TypeVar("F", bound=Callable[..., Any])


def ops_backend_options(func: F) -> F:
    """The backend options every operator command takes: the same settings, options and
    environment variables as the worker's (:func:`pyresque.cli.common.connection_options`),
    so an operator points the CLI where the workers are with the same environment."""
    return connection_options(func)


def json_option(func: F) -> F:
    """Add ``--json``: print one JSON document instead of a table."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")(func)


def yes_option(func: F) -> F:
    """Add ``-y/--yes``: do not ask before a destructive action."""
    return click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")(func)


@contextmanager
def operator_app(
    redis: str | None, redis_db: int | None, prefix: str | None, app_include: str | None
) -> Iterator[Resque]:
    """The app the options describe; pyresque errors become clean CLI errors.

    Raises:
        click.ClickException: the backend is invalid or unreachable, or an operation
            raised a :class:`~pyresque.PyresqueError` (its message is shown).
    """
    app = make_app(redis, prefix, app_include, db=redis_db)
    try:
        yield app
    except Exception as exc:
        permanent = backend_failure(app.backend, exc)
        if permanent is not None:
            raise click.ClickException(permanent) from exc
        if isinstance(exc, PyresqueError):
            raise click.ClickException(str(exc)) from exc
        if isinstance(exc, app.backend.connection_errors):
            where = app.backend.describe()
            raise click.ClickException(f"cannot reach the backend at {where}: {exc}") from exc
        raise
    finally:
        app.close()


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON (raw UTF-8, keys in the order given) on stdout."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def shorten(value: Any, width: int = 60) -> str:
    """``value`` as one line of at most ``width`` characters (JSON for non-strings)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str = "(none)") -> None:
    """Print rows under headers in aligned columns (``empty`` when there are no rows)."""
    if not rows:
        click.echo(empty)
        return
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        line = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        click.echo(click.style(line, bold=True) if n == 0 else line)


def parse_json_args(text: str | None, what: str = "ARGS-JSON") -> list[Any]:
    """Parse a job's arguments given as a JSON array (``'[1, "a"]'``); empty means none.

    Raises:
        click.BadParameter: the text is not JSON, or not a JSON array.
    """
    if text is None or not text.strip():
        return []
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=what) from exc
    if not isinstance(value, list):
        raise click.BadParameter(
            f"must be a JSON array of positional arguments, e.g. '[1, \"a\"]' (got {type(value).__name__})",
            param_hint=what,
        )
    return value


def split_worker_id(worker_id: str) -> tuple[str, str, str]:
    """``host:pid:queues`` -> (host, pid, queues); missing parts are empty strings."""
    parts = worker_id.split(":", 2)
    parts += [""] * (3 - len(parts))
    return parts[0], parts[1], parts[2]
