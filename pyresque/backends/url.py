"""Backend URLs: every form Resque users type, parsed once, printed without secrets.

Accepted:

- ``redis://[user:pass@]host[:port][/db]``, ``rediss://...`` (TLS), ``unix:///path/to.sock[?db=N]``
- php-resque's ``REDIS_BACKEND`` forms: ``host``, ``host:port``, and Ruby's
  ``host:port:db/namespace`` (the namespace part overrides the app's)
- php-resque DSN options ``timeout``, ``persistent``, ``max_connect_retries`` are
  understood (``timeout`` -> socket timeout) or ignored instead of breaking redis-py
- ``fakeredis://[name]``: an in-process fake Redis; apps using the same name share data
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pyresque.core.errors import UnknownBackendError

__all__ = ["BackendURL", "parse_backend_url", "redact_url"]

_SCHEMES = ("redis", "rediss", "unix", "fakeredis")
_PHP_ONLY_OPTIONS = {"persistent", "max_connect_retries"}


@dataclasses.dataclass(frozen=True, slots=True)
class BackendURL:
    """A parsed backend location.

    Attributes:
        scheme: ``redis``, ``rediss``, ``unix`` or ``fakeredis``.
        url: a URL redis-py's ``from_url`` accepts (or the fakeredis one).
        namespace: a namespace given inside the URL (Ruby's ``host:port/ns``), else None.
    """

    scheme: str
    url: str
    namespace: str | None = None

    def __repr__(self) -> str:
        return f"BackendURL({redact_url(self.url)!r})"

    def __str__(self) -> str:
        return redact_url(self.url)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
    except ValueError:  # an unreadable port: mask whatever stands before the '@'
        return re.sub(r"//[^@/]*@", "//***@", url)
    netloc = f"{quote(user)}:***@{host}" if user else f":***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def parse_backend_url(spec: str, *, db: int | None = None) -> BackendURL:
    """Parse any accepted backend string.

    Args:
        spec: the URL or php-resque/Ruby host form.
        db: a database number given separately (php-resque's ``REDIS_BACKEND_DB``).

    Raises:
        UnknownBackendError: the scheme is not one pyresque knows, the string is empty,
            or its port or database is not a number.
    """
    text = spec.strip()
    if not text:
        raise UnknownBackendError("the backend URL is empty")
    if "://" not in text:
        return _parse_host_form(text, db)
    scheme = text.split("://", 1)[0].lower()
    if scheme not in _SCHEMES:
        raise UnknownBackendError(
            f"unknown backend scheme {scheme!r} in {redact_url(text)!r}; "
            f"known: {', '.join(s + '://' for s in _SCHEMES)}"
        )
    if scheme == "fakeredis":
        return BackendURL("fakeredis", text)
    parts = urlsplit(text)
    _check_location(parts.netloc, scheme, text)
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _PHP_ONLY_OPTIONS:
            continue
        if key == "timeout":
            key = "socket_timeout"
        if key == "db":
            _check_db(value, text)
        query.append((key, value))
    path = parts.path
    if scheme != "unix" and path not in ("", "/"):
        _check_db(path[1:], text, in_path=True)
    if db is not None:
        if scheme == "unix":
            query = [(k, v) for k, v in query if k != "db"] + [("db", str(db))]
        else:
            path = f"/{db}"
    query_text = f"?{urlencode(query)}" if query else ""
    return BackendURL(scheme, f"{scheme}://{parts.netloc}{path}{query_text}")


def _check_location(netloc: str, scheme: str, text: str) -> None:
    """Refuse a port that is not a number in 1-65535 (redis-py would raise a bare
    ``ValueError`` later, or connect to something else)."""
    if scheme == "unix":
        return
    host_port = netloc.rpartition("@")[2]
    if host_port.startswith("["):  # [ipv6]:port
        port = host_port.partition("]")[2].removeprefix(":")
    else:
        port = host_port.partition(":")[2]
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise UnknownBackendError(
            f"cannot read backend {redact_url(text)!r}: port {port!r} is not a number in 1-65535"
        )


def _check_db(value: str, text: str, *, in_path: bool = False) -> None:
    """Refuse a database that is not a number (redis-py would silently use db 0)."""
    if value.isascii() and value.isdigit():
        return
    hint = ""
    if in_path:
        hint = " (a namespace goes in --prefix/PREFIX, or host:port/namespace without redis://)"
    raise UnknownBackendError(
        f"cannot read backend {redact_url(text)!r}: database {value!r} is not a number{hint}"
    )


def _parse_host_form(text: str, db: int | None) -> BackendURL:
    server, _, namespace = text.partition("/")
    pieces = server.split(":")
    if len(pieces) > 3 or not pieces[0]:
        raise UnknownBackendError(f"cannot read backend {text!r}: expected host[:port[:db]][/namespace]")
    host = pieces[0]
    port = pieces[1] if len(pieces) > 1 and pieces[1] else "6379"
    if not port.isdigit():
        raise UnknownBackendError(f"cannot read backend {text!r}: port {port!r} is not a number")
    database = pieces[2] if len(pieces) > 2 else None
    if database is not None and not database.isdigit():
        # php-resque REDIS_BACKEND forms never carry a third part; Ruby's does (the db).
        raise UnknownBackendError(f"cannot read backend {text!r}: db {database!r} is not a number")
    chosen_db = db if db is not None else int(database or 0)
    return BackendURL("redis", f"redis://{host}:{port}/{chosen_db}", namespace or None)
