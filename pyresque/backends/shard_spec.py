"""Shard specs: a sharded app named in one string, wherever a backend URL goes
(``--redis``, ``REDIS_URL``, ``Resque(url)``, ``pyresque web``, ``pyresque metrics``).

Two forms (start with :func:`parse_shard_spec`; :func:`is_shard_spec` tells them from a
plain URL):

- inline: ``redis+shards://NAME=URL[,NAME=URL...][?map=QUEUE:NAME[,QUEUE:NAME...]&namespace=NS]``,
  e.g. ``redis+shards://a=redis://h1:6379/0,b=redis+sentinel://s1:26379,s2:26379/mymaster?map=mail:b``.
  Each shard's URL is any form with a scheme (``redis://``, ``rediss://``, ``unix://``,
  ``redis+sentinel://``, ``redis+cluster://``); a new shard starts at ``,NAME=SCHEME://``,
  so the commas of a Sentinel host list stay its own. ``map`` and ``namespace`` are the
  spec's options wherever they stand in the query after the last shard; every other
  option stays with that shard's URL. Queue names in ``map`` may be percent-encoded.
- a file: ``shards:PATH`` (``shards:/etc/pyresque/shards.toml``, ``shards:./shards.toml``),
  a TOML file with a ``[shards]`` table (``name = "URL"``, in order), an optional
  ``[queue_map]`` table (``queue = "name"``) and an optional top-level ``namespace``.
  ``shards:6379`` stays php-resque's host form (a host called ``shards``).

Shard names are ``[A-Za-z0-9_.-]+``: they place the queues (keep them when a server
moves), and show in the dashboard's paths and the exporter's ``shard`` label.

Every error is one :class:`~pyresque.core.errors.UnknownBackendError` line without
passwords (:func:`redact_shard_spec`). Nothing here connects or imports redis-py.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from pyresque.backends.url import (
    SHARD_ENTRY_RE,
    SHARD_NAME,
    SHARDS_FILE_PREFIX,
    SHARDS_SCHEME,
    is_shard_spec,
    parse_backend_url,
    redact_shard_spec,
    redact_url,
)
from pyresque.core.errors import UnknownBackendError

__all__ = [
    "INLINE_SCHEME",
    "ShardSpec",
    "is_shard_spec",
    "parse_shard_spec",
    "redact_shard_spec",
    "sharded_backend",
]

INLINE_SCHEME = SHARDS_SCHEME
_FILE_PREFIX = SHARDS_FILE_PREFIX
_NAME_RE = re.compile(rf"{SHARD_NAME}\Z")
_ENTRY_RE = SHARD_ENTRY_RE
_SPEC_OPTIONS = ("map", "namespace")
_FILE_KEYS = {"shards", "queue_map", "namespace"}


@dataclasses.dataclass(frozen=True, slots=True)
class ShardSpec:
    """A shard spec, read.

    Attributes:
        shards: ``(name, URL)`` in the spec's order (the failure list's order).
        queue_map: queue -> shard name, for queues the hash must not place.
        namespace: the namespace the spec names, else None (the app's).
        source: where it came from, without passwords (the spec or the file's path).
    """

    shards: tuple[tuple[str, str], ...]
    queue_map: tuple[tuple[str, str], ...] = ()
    namespace: str | None = None
    source: str = ""

    @property
    def names(self) -> list[str]:
        """The shards' names, in order."""
        return [name for name, _ in self.shards]

    def __repr__(self) -> str:
        return f"ShardSpec({self.source!r})"


def sharded_backend(text: str, namespace: str = "resque", *, db: int | None = None) -> Any:
    """The :class:`~pyresque.backends.redis.shards.ShardedBackend` a shard spec names
    (nothing connects yet). The spec's namespace, if any, wins over ``namespace``.

    Raises:
        UnknownBackendError: the spec does not parse, or ``db`` is given (each shard's
            database goes in its URL).
    """
    spec = parse_shard_spec(text)
    if db is not None:
        raise UnknownBackendError(
            f"shard spec {spec.source!r}: give each shard's database in its URL, "
            "not --redis-db/REDIS_BACKEND_DB"
        )
    from pyresque.backends.redis.shards import ShardedBackend

    return ShardedBackend(
        dict(spec.shards), queue_map=dict(spec.queue_map), namespace=spec.namespace or namespace
    )


def parse_shard_spec(text: str) -> ShardSpec:
    """Read a shard spec (inline or ``shards:PATH``); each shard's URL is checked with
    :func:`~pyresque.backends.url.parse_backend_url`.

    Raises:
        UnknownBackendError: not a shard spec, no shard, a bad or repeated name, a
            shard URL that does not parse, an unknown option, a map entry that is not
            ``queue:name`` or names an unknown shard; a file missing, unreadable, not
            TOML or with unknown keys. One line, without passwords.
    """
    stripped = text.strip()
    if stripped.lower().startswith(INLINE_SCHEME + "://"):
        return _parse_inline(stripped)
    if is_shard_spec(stripped):
        return _parse_file(stripped[len(_FILE_PREFIX) :])
    raise UnknownBackendError(f"not a shard spec: {redact_shard_spec(stripped)!r}")


def _parse_inline(text: str) -> ShardSpec:
    shown = redact_shard_spec(text)
    usage = "expected redis+shards://NAME=URL[,NAME=URL...][?map=QUEUE:NAME,...&namespace=NS]"
    body = text[len(INLINE_SCHEME) + 3 :]
    starts = list(_ENTRY_RE.finditer(body))
    if not starts or starts[0].start() != 0:
        raise UnknownBackendError(f"cannot read shard spec {shown!r}: {usage}")
    entries: list[tuple[str, str]] = []
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(body)
        entries.append((match.group(1), body[match.end() : end]))
    name, last = entries[-1]
    last, options = _split_spec_options(last, shown)
    entries[-1] = (name, last)
    queue_map = _read_map(options.get("map", ""), shown)
    namespace = options.get("namespace")
    if namespace is not None and not namespace:
        raise UnknownBackendError(f"cannot read shard spec {shown!r}: namespace is empty")
    return _checked(entries, queue_map, namespace, shown)


def _split_spec_options(url: str, shown: str) -> tuple[str, dict[str, str]]:
    """The last shard's URL without the spec's own options, and those options."""
    base, q, query = url.partition("?")
    if not q:
        return url, {}
    mine: dict[str, str] = {}
    kept: list[tuple[str, str]] = []
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if unquote(key) in _SPEC_OPTIONS:
            if unquote(key) in mine:
                raise UnknownBackendError(f"cannot read shard spec {shown!r}: {unquote(key)} given twice")
            mine[unquote(key)] = value if key == "map" else unquote(value)
        elif part:
            kept.extend(parse_qsl(part, keep_blank_values=True))
    return (f"{base}?{urlencode(kept)}" if kept else base), mine


def _read_map(text: str, shown: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in filter(None, text.split(",")):
        queue, colon, shard = item.rpartition(":")
        if not colon or not queue or not shard:
            raise UnknownBackendError(
                f"cannot read shard spec {shown!r}: map entry {unquote(item)!r} is not QUEUE:SHARD"
            )
        out.append((unquote(queue), unquote(shard)))
    return out


def _parse_file(path_text: str) -> ShardSpec:
    path = Path(path_text).expanduser()
    shown = f"shards:{path_text}"
    toml = _toml()
    try:
        with path.open("rb") as fh:
            data = toml.load(fh)
    except FileNotFoundError:
        raise UnknownBackendError(f"shard file not found: {path}") from None
    except OSError as exc:
        raise UnknownBackendError(f"cannot read shard file {path}: {exc.strerror or exc}") from None
    except (toml.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UnknownBackendError(f"shard file {path} is not TOML: {exc}") from None
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise UnknownBackendError(
            f"shard file {path}: unknown keys {unknown} (known: namespace, [shards], [queue_map])"
        )
    shards = _table(data, "shards", path)
    queue_map = _table(data, "queue_map", path)
    namespace = data.get("namespace")
    if namespace is not None and not (isinstance(namespace, str) and namespace):
        raise UnknownBackendError(f"shard file {path}: namespace must be a non-empty string")
    return _checked(list(shards.items()), list(queue_map.items()), namespace, shown)


def _table(data: dict[str, Any], key: str, path: Path) -> dict[str, str]:
    table = data.get(key, {})
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise UnknownBackendError(f"shard file {path}: [{key}] must be a table of strings (name = \"...\")")
    return table


def _checked(
    entries: list[tuple[str, str]], queue_map: list[tuple[str, str]], namespace: str | None, shown: str
) -> ShardSpec:
    if not entries:
        raise UnknownBackendError(f"shard spec {shown!r} names no shard")
    seen: set[str] = set()
    for name, url in entries:
        if not _NAME_RE.match(name):
            raise UnknownBackendError(
                f"shard spec {shown!r}: shard name {name!r} is not letters, digits, '_', '.', '-'"
            )
        if name in seen:
            raise UnknownBackendError(f"shard spec {shown!r}: shard {name!r} is named twice")
        seen.add(name)
        if is_shard_spec(url):
            raise UnknownBackendError(f"shard spec {shown!r}: shard {name!r} is itself a shard spec")
        try:
            parsed = parse_backend_url(url)  # its own one-line error, without the password
        except UnknownBackendError as exc:
            raise UnknownBackendError(f"shard {name!r}: {exc}") from None
        if parsed.scheme == "fakeredis":
            raise UnknownBackendError(
                f"shard spec {shown!r}: shard {name!r} is {redact_url(url)!r}; shards are Redis servers"
            )
    names = [name for name, _ in entries]
    mapped: dict[str, str] = {}
    for queue, shard in queue_map:
        if shard not in seen:
            raise UnknownBackendError(
                f"shard spec {shown!r}: the map puts {queue!r} on unknown shard {shard!r}; shards: {names}"
            )
        if mapped.get(queue, shard) != shard:
            raise UnknownBackendError(f"shard spec {shown!r}: the map places {queue!r} twice")
        mapped[queue] = shard
    return ShardSpec(tuple(entries), tuple(mapped.items()), namespace, shown)


def _toml() -> Any:
    """``tomllib`` (Python 3.11+), or ``tomli`` on 3.10."""
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    import importlib

    try:  # pragma: no cover - Python 3.10
        return importlib.import_module("tomli")
    except ImportError as exc:  # pragma: no cover
        raise UnknownBackendError("shard files need tomli on Python 3.10: pip install tomli") from exc
