"""``pyresque web``: serve the dashboard (:mod:`pyresque.web`) with uvicorn.

Safe by default: it listens on 127.0.0.1; it refuses to listen on any other address
without HTTP Basic auth (a password from ``PYRESQUE_WEB_PASSWORD`` or
``--password-file``) unless told ``--insecure``. The password is never printed.
Needs the ``web`` extra (``pip install 'pyresque[web]'``).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

import click

from pyresque.backends.shard_spec import parse_shard_spec
from pyresque.backends.url import is_shard_spec
from pyresque.cli.common import inherited
from pyresque.cli.shards import chosen_shard, shard_option
from pyresque.core.errors import ConfigurationError

__all__ = ["is_loopback", "pairs", "web"]

PASSWORD_ENV = "PYRESQUE_WEB_PASSWORD"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (``localhost``, 127.x, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[] ")).is_loopback
    except ValueError:
        return False


def _many(ctx: click.Context, param: click.Parameter, value: Any) -> tuple[str, ...]:
    """A repeatable option that may also come from the group (one value there)."""
    given = inherited(ctx, param, value)
    return (given,) if isinstance(given, str) else tuple(given or ())


def pairs(urls: tuple[str, ...], namespaces: tuple[str, ...]) -> list[tuple[str, str | None]]:
    """``--redis`` and ``--namespace`` paired by position (one namespace: for every URL).

    Raises:
        click.UsageError: more namespaces than URLs.
    """
    urls = urls or ("redis://localhost:6379/0",)
    if len(namespaces) > max(1, len(urls)):
        raise click.UsageError(
            f"{len(namespaces)} --namespace for {len(urls)} --redis: give one, or one per --redis"
        )
    if len(namespaces) == 1:
        return [(url, namespaces[0]) for url in urls]
    return [(url, namespaces[i] if i < len(namespaces) else None) for i, url in enumerate(urls)]


def _narrowed(url: str) -> str:
    """``url``, or with ``--shard NAME`` the URL of that shard of the shard spec ``url``."""
    name = chosen_shard()
    if name is None:
        return url
    if not is_shard_spec(url):
        raise click.ClickException(
            f"--shard {name} needs a shard spec in --redis (redis+shards://... or shards:FILE)"
        )
    try:
        shards = dict(parse_shard_spec(url).shards)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    if name not in shards:
        raise click.ClickException(f"no shard named {name!r}; shards: {', '.join(shards)}")
    return shards[name]


def _password(password_file: Path | None) -> str | None:
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise click.ClickException(
                f"cannot read the password file {password_file}: {exc.strerror}"
            ) from None
        if not text:
            raise click.ClickException(f"the password file {password_file} is empty")
        return text
    return os.environ.get(PASSWORD_ENV) or None


@click.command("web")
@shard_option
@click.option(
    "-r",
    "--redis",
    "--backend",
    "redis",
    envvar=["REDIS_BACKEND", "REDIS_URL"],
    multiple=True,
    callback=_many,
    metavar="URL",
    help="Redis to show; repeat it for several instances in one dashboard "
    "(env REDIS_BACKEND or REDIS_URL; default redis://localhost:6379/0).",
)
@click.option(
    "--prefix",
    "--namespace",
    "prefix",
    envvar="PREFIX",
    multiple=True,
    callback=_many,
    metavar="NS",
    help="Key namespace, default 'resque' (env PREFIX); one per --redis, or one for all.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5678, show_default=True, type=click.IntRange(0, 65535), help="Port.")
@click.option("--read-only", is_flag=True, help="Show only: refuse every change.")
@click.option(
    "--user", envvar="PYRESQUE_WEB_USER", default="admin", show_default=True, help="Basic auth user."
)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"File holding the Basic auth password (else env {PASSWORD_ENV}; none: no auth).",
)
@click.option("--insecure", is_flag=True, help="Allow listening beyond loopback without auth.")
@click.option("--title", default="pyresque", show_default=True, help="Title in the header.")
def web(
    redis: tuple[str, ...],
    prefix: tuple[str, ...],
    host: str,
    port: int,
    read_only: bool,
    user: str,
    password_file: Path | None,
    insecure: bool,
    title: str,
) -> None:
    """Serve the web dashboard for a Resque Redis (any Resque: Ruby, PHP, node, pyresque)."""
    instances = pairs(redis, prefix)
    password = _password(password_file)
    if password is None and not is_loopback(host) and not insecure:
        raise click.ClickException(
            f"refusing to listen on {host} without auth: set {PASSWORD_ENV} or --password-file "
            "(or --insecure to serve it open anyway)"
        )
    try:
        import uvicorn

        from pyresque.web import create_app, create_multi_app
    except ImportError as exc:
        raise click.ClickException(
            f"pyresque web needs the web extra (pip install 'pyresque[web]'): {exc}"
        ) from None
    from pyresque.backends.url import redact_url

    options: dict[str, Any] = {
        "read_only": read_only,
        "auth": (user, password) if password else None,
        "title": title,
    }
    instances = [(_narrowed(url), ns) for url, ns in instances]
    try:
        if len(instances) == 1:
            app = create_app(*instances[0], **options)
        else:
            app = create_multi_app(instances, **options)
    except ConfigurationError as exc:  # a malformed URL or shard spec: one line
        raise click.ClickException(str(exc)) from None
    mode = "read-only" if read_only else "read-write"
    auth = f"basic auth as {user}" if password else "no auth"
    where = ", ".join(redact_url(url) + (f" ({ns})" if ns else "") for url, ns in instances)
    click.echo(f"pyresque web on http://{host}:{port}/ for {where} ({mode}, {auth})", err=True)
    # live streams never end by themselves: a stop waits at most 2 s for them
    uvicorn.run(
        app, host=host, port=port, log_level="warning", server_header=False, timeout_graceful_shutdown=2
    )
