"""What every operator command shares: backend options, the app, errors, and output.

Output is a readable table by default and JSON with ``--json`` (one document on
stdout, for scripts; numbers stay numbers). Errors go to stderr with exit status 1
(click's convention; 2 for usage); a backend that cannot be reached, refuses the
password, lacks the database or is not Redis is reported in one line by name, never
with its password. Text read from Redis is attacker-controlled: tables show it through
:func:`safe_text` (control and format characters escaped), so a payload cannot drive
the operator's terminal.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from pyresque.cli.common import backend_failure, connection_options, inherited, make_app
from pyresque.core.app import Resque
from pyresque.core.errors import PyresqueError

__all__ = [
    "emit_json",
    "known_queue",
    "number",
    "plural",
    "raw_text",
    "safe_text",
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
    """Add ``--json``: print one JSON document instead of a table (also accepted before
    the sub-command: ``pyresque --json queues``)."""
    return click.option(
        "--json", "as_json", is_flag=True, callback=inherited, help="Print JSON (for scripts)."
    )(func)


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
    """``value`` as one line of at most ``width`` characters (JSON for non-strings),
    control and format characters escaped (:func:`safe_text`)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
    text = safe_text(" ".join(text.split()))
    return text if len(text) <= width else text[: width - 1] + "…"


def safe_text(text: str) -> str:
    r"""``text`` with every control, format, surrogate, private or unassigned character
    and line separator escaped (``\x1b``, ``\u202e``), so text read from Redis cannot
    move the cursor, clear the screen or reorder a line on the operator's terminal.
    Backslashes are kept as they are (``a\b`` stays readable as ``a\b``)."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        category = unicodedata.category(char)
        if category[0] != "C" and category not in ("Zl", "Zp"):
            out.append(char)
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return "".join(out)


def raw_text(raw: bytes, limit: int = 200) -> str:
    r"""Bytes that are not a readable payload, shown safely: UTF-8 where they are,
    other bytes as ``\xNN``, control characters escaped (:func:`safe_text`), cut at
    ``limit`` characters with the whole size said (``… (12345 bytes)``)."""
    cut = raw[: limit * 4]
    text = safe_text(cut.decode("utf-8", "backslashreplace"))
    if len(text) <= limit and len(cut) == len(raw):
        return text
    return f"{text[:limit]}… ({len(raw)} bytes)"


def number(value: Any) -> Any:
    """A value read from Redis as a JSON number when it is one (``"4242"`` -> 4242,
    ``"1.5"`` -> 1.5); anything else unchanged."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
        try:
            parsed = float(value)
        except ValueError:
            return value
        return parsed if parsed == parsed and parsed not in (float("inf"), float("-inf")) else value
    return value


def plural(n: int, word: str) -> str:
    """``1 job``, ``2 jobs``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def known_queue(app: Resque, queue: str) -> int:
    """The size of ``queue``, which must be known: registered in ``queues`` or holding
    jobs (a list nobody registered still counts: its jobs are real). Two round trips.

    Raises:
        click.ClickException: no such queue (one line, exit status 1).
    """
    with app.connection_guard():
        size = app.backend.broker.size(queue)
        if size or queue in app.backend.broker.queues():
            return size
    raise click.ClickException(f"no queue named {queue!r} (pyresque queues lists them)")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str = "(none)") -> None:
    """Print rows under headers in aligned columns (``empty`` when there are no rows).

    Cells go through :func:`safe_text`: text from Redis cannot drive the terminal."""
    if not rows:
        click.echo(empty)
        return
    cells = [[str(h) for h in headers]]
    cells += [["" if c is None else safe_text(str(c)) for c in row] for row in rows]
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
