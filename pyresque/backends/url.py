"""Backend URLs: every form Resque users type, parsed once, printed without secrets.

Accepted:

- ``redis://[user:pass@]host[:port][/db]``, ``rediss://...`` (TLS), ``unix:///path/to.sock[?db=N]``
- php-resque's ``REDIS_BACKEND`` forms: ``host``, ``host:port``, and Ruby's
  ``host:port:db/namespace`` (the namespace part overrides the app's)
- php-resque DSN options ``timeout``, ``persistent``, ``max_connect_retries`` are
  understood (``timeout`` -> socket timeout) or ignored instead of breaking redis-py
- ``fakeredis://[name]``: an in-process fake Redis; apps using the same name share data
- ``redis+sentinel://[[user]:pass@]host:port[,host:port...]/service[/db]`` (and
  ``rediss+sentinel://``, TLS): the master of ``service`` as the sentinels name it;
  ``redis+cluster://[[user]:pass@]host:port[,host:port...]`` (and ``rediss+cluster://``):
  a Redis Cluster, the namespace in one hash slot. :func:`parse_multi_host` reads
  them into a :class:`MultiHostLocation` (``pyresque/backends/redis/sentinel.py`` and
  ``cluster.py`` connect).
- shard specs (``redis+shards://a=URL,b=URL?map=...``, ``shards:FILE.toml``): several
  backends as one app, read by ``shard_spec.py`` (:func:`redact_url` masks each
  shard's password; :func:`parse_backend_url` refuses one, as it names one backend).
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from pyresque.core.errors import UnknownBackendError

__all__ = [
    "BackendURL",
    "MultiHostLocation",
    "is_shard_spec",
    "parse_backend_url",
    "parse_multi_host",
    "redact_shard_spec",
    "redact_url",
]

_MULTI_HOST_SCHEMES = ("redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster")
_SCHEMES = ("redis", "rediss", "unix", "fakeredis", *_MULTI_HOST_SCHEMES)
_PHP_ONLY_OPTIONS = {"persistent", "max_connect_retries"}


@dataclasses.dataclass(frozen=True, slots=True)
class BackendURL:
    """A parsed backend location.

    Attributes:
        scheme: ``redis``, ``rediss``, ``unix``, ``fakeredis``, or one of the several-host
            forms ``redis+sentinel``, ``rediss+sentinel``, ``redis+cluster``, ``rediss+cluster``.
        url: a URL redis-py's ``from_url`` accepts (or the fakeredis one; for the
            several-host forms the URL as given, read by :func:`parse_multi_host`).
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
    """``url`` with any password replaced by ``***`` (every shard's, in a shard spec)."""
    if is_shard_spec(url):
        return redact_shard_spec(url)
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in _MULTI_HOST_SCHEMES:
        netloc, slash, tail = rest.partition("/")
        userinfo, at, hosts = netloc.rpartition("@")
        if at and ":" in userinfo:
            user = userinfo.partition(":")[0]
            return f"{scheme}://{user}:***@{hosts}{slash}{tail}"
        return url
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


# -- shard specs: how to tell one, and print it without passwords (shard_spec.py reads it) --

#: The scheme of the inline shard spec.
SHARDS_SCHEME = "redis+shards"
SHARDS_FILE_PREFIX = "shards:"
#: A shard's name.
SHARD_NAME = r"[A-Za-z0-9_.-]+"
#: Where a shard of an inline spec starts: the start or a comma, ``NAME=``, a scheme.
SHARD_ENTRY_RE = re.compile(rf"(?:\A|,)({SHARD_NAME})=(?=[A-Za-z][A-Za-z0-9+.-]*://)")
_HOST_FORM_RE = re.compile(r"\d+(:\d+)?(/.*)?\Z", re.DOTALL)


def is_shard_spec(text: str) -> bool:
    """Whether ``text`` names several shards (``redis+shards://...`` or ``shards:PATH``)
    rather than one backend. ``shards:6379[/ns]`` stays a host form (a host named shards)."""
    stripped = text.strip()
    if stripped.lower().startswith(SHARDS_SCHEME + "://"):
        return True
    if stripped.lower().startswith(SHARDS_FILE_PREFIX):
        return not _HOST_FORM_RE.match(stripped[len(SHARDS_FILE_PREFIX) :])
    return False


def _masked(text: str) -> str:
    """Unreadable text: everything from a ``//`` to its last ``@`` is masked."""
    return re.sub(r"//.*@", "//***@", text, flags=re.DOTALL) if "@" in text else text


def redact_shard_spec(text: str) -> str:
    """A shard spec with every shard URL's password replaced by ``***``."""
    stripped = text.strip()
    if not stripped.lower().startswith(SHARDS_SCHEME + "://"):
        return stripped  # a file's path
    body = stripped[len(SHARDS_SCHEME) + 3 :]
    starts = list(SHARD_ENTRY_RE.finditer(body))
    if not starts:
        return _masked(stripped)
    out = [stripped[: len(SHARDS_SCHEME) + 3], _masked(body[: starts[0].start()])]
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(body)
        out.append(body[match.start() : match.end()] + redact_url(body[match.end() : end]))
    return "".join(out)


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
    if is_shard_spec(text):
        raise UnknownBackendError(
            f"{redact_url(text)!r} is a shard spec (several backends): "
            "Resque(url), create_backend(url) and every --redis option read it "
            "(not AsyncResque yet, nor one backend's URL)"
        )
    if "://" not in text:
        return _parse_host_form(text, db)
    scheme = text.split("://", 1)[0].lower()
    if scheme not in _SCHEMES:
        raise UnknownBackendError(
            f"unknown backend scheme {scheme!r} in {redact_url(text)!r}; "
            f"known: {', '.join(s + '://' for s in _SCHEMES)}, redis+shards:// (several shards)"
        )
    if scheme == "fakeredis":
        return BackendURL("fakeredis", text)
    if scheme in _MULTI_HOST_SCHEMES:
        if db is not None:
            text = _with_db(text, db)
        parse_multi_host(text)  # refuse a bad one now, in one line
        return BackendURL(scheme, text)
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


# -- several hosts: Sentinel and Cluster ---------------------------------------------------

#: Query options of the several-host forms, and how each value is read.
_MULTI_OPTIONS: dict[str, type] = {
    "socket_timeout": float,
    "socket_connect_timeout": float,
    "sentinel_username": str,
    "sentinel_password": str,
    "ssl_cert_reqs": str,
    "ssl_ca_certs": str,
    "ssl_certfile": str,
    "ssl_keyfile": str,
    "ssl_check_hostname": bool,
}


@dataclasses.dataclass(frozen=True, slots=True)
class MultiHostLocation:
    """A Sentinel or Cluster URL, read.

    Attributes:
        kind: ``"sentinel"`` or ``"cluster"``.
        tls: ``rediss+...``: TLS to every host (sentinels, masters, cluster nodes).
        hosts: the sentinels (or the cluster's start-up nodes), in the URL's order.
        service: the sentinels' name for the master (Sentinel only, else ``""``).
        db: the database on the master (Sentinel; always 0 on a cluster).
        username: the data servers' user (ACL), or None.
        password: the data servers' password, or None (sentinels take
            ``?sentinel_password=``, as they usually have their own or none).
        options: the other query options, typed (``socket_timeout=2.5`` ...).
    """

    kind: str
    tls: bool
    hosts: tuple[tuple[str, int], ...]
    service: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    options: tuple[tuple[str, str | float | bool], ...] = ()

    def __repr__(self) -> str:
        hosts = ",".join(f"{h}:{p}" for h, p in self.hosts)
        return f"MultiHostLocation({self.kind}, {hosts}, service={self.service!r}, db={self.db})"


def _with_db(text: str, db: int) -> str:
    scheme, _, rest = text.partition("://")
    netloc, _, path = rest.partition("/")
    path, q, query = path.partition("?")
    service = path.split("/")[0]
    return f"{scheme}://{netloc}/{service}/{db}{q}{query}" if scheme.endswith("sentinel") else text


def parse_multi_host(url: str) -> MultiHostLocation:
    """Read a ``redis+sentinel://``, ``rediss+sentinel://``, ``redis+cluster://`` or
    ``rediss+cluster://`` URL.

    Raises:
        UnknownBackendError: another scheme, no host, a port or database that is not
            a number, no service name (Sentinel), a database other than 0 (Cluster),
            or an unknown query option; one line, without the password.
    """
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    shown = redact_url(text)
    if not sep or scheme not in _MULTI_HOST_SCHEMES:
        raise UnknownBackendError(f"not a Sentinel or Cluster URL: {shown!r}")
    kind = scheme.partition("+")[2]
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, host_list = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    hosts = tuple(_read_host(item, shown) for item in host_list.split(","))
    segments = [unquote(s) for s in path.split("/")] if path else []
    service, db = "", 0
    if kind == "sentinel":
        if not segments or not segments[0]:
            raise UnknownBackendError(
                f"cannot read backend {shown!r}: name the master's service: "
                "redis+sentinel://host:26379[,host:port...]/SERVICE[/db]"
            )
        service = segments[0]
        db_text = segments[1] if len(segments) > 1 and segments[1] else "0"
        if len(segments) > 2 and any(segments[2:]):
            raise UnknownBackendError(
                f"cannot read backend {shown!r}: expected /service[/db] after the hosts"
            )
    else:
        db_text = segments[0] if segments and segments[0] else "0"
        if len(segments) > 1 and any(segments[1:]):
            raise UnknownBackendError(f"cannot read backend {shown!r}: a cluster URL has no path beyond /0")
    options: list[tuple[str, str | float | bool]] = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "timeout":
            key = "socket_timeout"
        if key == "db":
            db_text = value
            continue
        kind_of = _MULTI_OPTIONS.get(key)
        if kind_of is None:
            known = ", ".join(["db", "timeout", *_MULTI_OPTIONS])
            raise UnknownBackendError(
                f"cannot read backend {shown!r}: unknown option {key!r} (known: {known})"
            )
        options.append((key, _read_option(key, value, kind_of, shown)))
    _check_db(db_text, text)
    db = int(db_text)
    if kind == "cluster" and db != 0:
        raise UnknownBackendError(f"cannot read backend {shown!r}: a Redis Cluster has database 0 only")
    return MultiHostLocation(
        kind, scheme.startswith("rediss"), hosts, service, db, username, password, tuple(options)
    )


def _read_host(item: str, shown: str) -> tuple[str, int]:
    item = item.strip()
    if item.startswith("["):  # [ipv6]:port
        host, _, port = item[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
    if not host:
        raise UnknownBackendError(
            f"cannot read backend {shown!r}: a host is missing (host:port[,host:port...])"
        )
    if not port:
        raise UnknownBackendError(
            f"cannot read backend {shown!r}: give every host a port ({host!r} has none)"
        )
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise UnknownBackendError(f"cannot read backend {shown!r}: port {port!r} is not a number in 1-65535")
    return host, int(port)


def _read_option(key: str, value: str, kind_of: type, shown: str) -> str | float | bool:
    if kind_of is float:
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not number > 0 or number == float("inf"):
            raise UnknownBackendError(
                f"cannot read backend {shown!r}: {key} {value!r} is not a number of seconds"
            )
        return number
    if kind_of is bool:
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise UnknownBackendError(f"cannot read backend {shown!r}: {key} {value!r} is not true or false")
        return value.lower() in ("true", "1", "yes")
    return value
