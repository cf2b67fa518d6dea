"""Helpers shared by the long-running commands (``worker``, ``scheduler``).

- :func:`backend_options`: the click options (and Resque environment variables) that
  choose the backend: ``--redis``/``REDIS_BACKEND``/``REDIS_URL``, ``--redis-db``/
  ``REDIS_BACKEND_DB``, ``--prefix``/``PREFIX``, ``--app-include``/``APP_INCLUDE``,
  ``--logging``/``LOGGING``, ``-v``/``VERBOSE``, ``-vv``/``VVERBOSE``. The connection
  ones are also accepted before the sub-command (:func:`inherited`).
- :func:`make_app`: the :class:`~pyresque.Resque` app those options describe.
- :func:`import_app_include`: import the user's module (a dotted name or a ``.py`` path).
- :func:`setup_logging`: the one place logging handlers are configured.

``APP_INCLUDE``'s import rules are in :mod:`pyresque.cli.include`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from pyresque.backends import create_backend
from pyresque.cli.include import app_of, import_app_include, include_module_name, load_include_module
from pyresque.cli.shards import chosen_shard, narrow, shard_option
from pyresque.core.app import Resque
from pyresque.core.errors import ConfigurationError

__all__ = [
    "backend_failure",
    "backend_options",
    "connection_options",
    "env_flag",
    "inherited",
    "import_app_include",
    "include_module_name",
    "load_include_module",
    "make_app",
    "setup_logging",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Where the backend points when neither an option nor an environment variable says.
DEFAULT_BACKEND = "redis://localhost:6379/0"

LOG_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def env_flag(value: str | None) -> bool:
    """Whether an environment flag is set the way Resque users write it (any non-empty
    value except ``0``, ``false``, ``no``, ``off``)."""
    if value is None:
        return False
    return value.strip().lower() not in ("", "0", "false", "no", "off")


def _flag_from_env(name: str) -> bool:
    return env_flag(os.environ.get(name))


def _apply(func: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        func = option(func)
    return func


def inherited(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Option callback: the value given to an enclosing command when this one's was not.

    ``pyresque --redis URL info`` gives ``--redis`` to the ``pyresque`` group; ``info``'s
    own ``--redis`` then takes it. Precedence: the option on this command's command
    line, then the nearest enclosing command that has the option and got a value, then
    this option's environment variable or default (the group's options have no
    environment variable, so an option typed anywhere beats the environment).
    """
    if param.name is None or ctx.get_parameter_source(param.name) is click.core.ParameterSource.COMMANDLINE:
        return value
    parent = ctx.parent
    while parent is not None:
        if param.name in parent.params:
            given = parent.params[param.name]
            if given is not None and given is not False:
                return given
            break
        parent = parent.parent
    return value


def connection_options(func: F) -> F:
    """Decorate a click command with the options that say where the app is.

    ``-r/--redis/--backend`` (env ``REDIS_BACKEND``, then ``REDIS_URL``), ``--redis-db``
    (env ``REDIS_BACKEND_DB``), ``--prefix/--namespace`` (env ``PREFIX``) and
    ``--app-include`` (env ``APP_INCLUDE``). The command receives ``redis``,
    ``redis_db``, ``prefix`` and ``app_include`` keyword arguments. Each is also taken
    from an enclosing group that has the same option (:func:`inherited`). ``--shard
    NAME`` narrows a sharded app to one shard (:mod:`pyresque.cli.shards`; read by
    :func:`make_app`, not passed to the command).
    """
    return _apply(
        func,
        [
            shard_option,
            click.option(
                "-r",
                "--redis",
                "--backend",
                "redis",
                envvar=["REDIS_BACKEND", "REDIS_URL"],
                default=None,
                callback=inherited,
                metavar="URL",
                help="Backend: redis://, rediss://, unix://, host:port[/namespace], fakeredis://name, "
                "redis+sentinel://, redis+cluster://, or shards: redis+shards://NAME=URL,... or shards:FILE "
                "(env REDIS_BACKEND or REDIS_URL; default redis://localhost:6379/0).",
            ),
            click.option(
                "--redis-db",
                "redis_db",
                envvar="REDIS_BACKEND_DB",
                type=int,
                default=None,
                callback=inherited,
                metavar="N",
                help="Database number (env REDIS_BACKEND_DB).",
            ),
            click.option(
                "--prefix",
                "--namespace",
                "prefix",
                envvar="PREFIX",
                default=None,
                callback=inherited,
                metavar="NS",
                help="Key namespace, default 'resque' (env PREFIX).",
            ),
            click.option(
                "--app-include",
                "app_include",
                envvar="APP_INCLUDE",
                default=None,
                callback=inherited,
                metavar="MODULE",
                help="Module name or .py file defining or registering the jobs (env APP_INCLUDE).",
            ),
        ],
    )


def backend_options(func: F) -> F:
    """Decorate a long-running command with :func:`connection_options` and the logging
    options (``--logging``/``LOGGING``, ``-v``/``VERBOSE``, ``--vverbose``/``VVERBOSE``).

    The command also receives ``logging_flag``, ``verbose`` and ``vverbose``.
    """
    func = _apply(
        func,
        [
            click.option(
                "--logging",
                "logging_flag",
                is_flag=True,
                default=None,
                help="Log worker activity (env LOGGING).",
            ),
            click.option(
                "-v", "--verbose", "verbose", count=True, help="A line per job; -vv: debug (env VERBOSE)."
            ),
            click.option(
                "--vverbose", "vverbose", is_flag=True, default=None, help="Debug logs (env VVERBOSE)."
            ),
        ],
    )
    return connection_options(func)


def resolve_logging_flags(
    logging_flag: bool | None, verbose: int | bool | None, vverbose: bool | None
) -> tuple[bool, bool, bool]:
    """Combine options with ``LOGGING``/``VERBOSE``/``VVERBOSE`` (either turns a level on)."""
    v = int(verbose or 0)
    return (
        bool(logging_flag) or _flag_from_env("LOGGING"),
        v >= 1 or _flag_from_env("VERBOSE"),
        v >= 2 or bool(vverbose) or _flag_from_env("VVERBOSE"),
    )


def setup_logging(logging_flag: bool, verbose: bool, vverbose: bool, log_format: str = "text") -> None:
    """Configure the root logger on stderr.

    Default: warnings and errors only (nothing per job). ``LOGGING``/``VERBOSE``: info,
    one line per job. ``VVERBOSE``: debug. ``log_format="json"``: one JSON object per
    line (:class:`pyresque.observability.jsonlog.JsonFormatter`) instead of text.
    """
    if vverbose:
        level = logging.DEBUG
    elif logging_flag or verbose:
        level = logging.INFO
    else:
        level = logging.WARNING
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        from pyresque.observability.jsonlog import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)


def backend_failure(backend: object, exc: BaseException) -> str | None:
    """The one-line message for a backend failure retrying cannot mend (a refused
    password, a database the server lacks, a server that is not Redis), else ``None``.
    ``exc`` or the error it was raised from is asked to the backend's ``permanent_error``."""
    explain = getattr(backend, "permanent_error", None)
    if not callable(explain):
        return None
    seen: BaseException | None = exc
    for _ in range(4):  # the app wraps the driver's error (``raise ... from exc``)
        if seen is None:
            return None
        permanent = explain(seen)
        if permanent is not None:
            return str(permanent)
        seen = seen.__cause__
    return None


def make_app(
    backend: str | None,
    namespace: str | None,
    app_include: str | None,
    *,
    db: int | None = None,
    serializer: str = "json",
) -> Resque:
    """The app the command works with (see the module docstring for the include rules).

    Args:
        backend: a backend URL, or ``None`` for the default / the included app's.
        namespace: the key prefix, or ``None`` for ``resque`` / the included app's.
        app_include: a module name or ``.py`` path to import, or ``None``.
        db: a database number given separately (``REDIS_BACKEND_DB``).
        serializer: the serializer of an app built here.

    Raises:
        click.ClickException: the include cannot be imported or the backend is invalid.
    """
    module = load_include_module(app_include) if app_include else None
    included = app_of(module) if module is not None else None
    shard = chosen_shard()
    try:
        if included is not None:
            if backend is not None or namespace is not None or db is not None:
                keys = getattr(included.backend, "keys", None)
                ns = namespace or str(getattr(keys, "namespace", "resque"))
                included.backend = create_backend(backend or DEFAULT_BACKEND, ns, db=db)
            if shard is not None:
                included.backend = narrow(included.backend, shard)
            included.plugins.load_entry_points(_blocked_plugins())
            return included
        allow = [module.__name__] if module is not None else []
        built = create_backend(backend or DEFAULT_BACKEND, namespace or "resque", db=db)
        app = Resque(
            built if shard is None else narrow(built, shard),
            serializer=serializer,
            allow_modules=allow,
            load_entry_points=True,
            blocked_plugins=_blocked_plugins(),
            failure_backend=os.environ.get("FAILURE_BACKEND") or None,
        )
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    register = getattr(module, "register", None) if module is not None else None
    if callable(register):
        register(app)
    return app


def _blocked_plugins() -> list[str]:
    from pyresque.hooks.manager import HookManager

    return HookManager.blocked_from_env(dict(os.environ))
