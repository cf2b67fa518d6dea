"""The CLI over a sharded app (``--redis redis+shards://...`` or ``shards:FILE``).

- :func:`shard_option`: ``--shard NAME`` (also before the sub-command): narrow a
  sharded app to one shard (:func:`narrow`, applied by
  :func:`~pyresque.cli.common.make_app`), e.g. for a scheduler or a worker per shard.
- :func:`shard_views`: ``[(name, app over that shard)]`` for the commands that read
  or act shard by shard and combine (``delayed``, ``stats``, ``prune``, ``quiet``/``stop``);
  ``[("", app)]`` for an app that is not sharded.
- :func:`shard_of_queue`, :func:`shard_names`: the SHARD column of ``queues`` and
  ``workers``; :func:`refuse_sharded`: the one line for what runs on one shard only.

The sharded stores themselves route by queue and add up (``info``, ``queues``,
``peek``, ``failed``, ``status`` go through them unchanged).
"""

from __future__ import annotations

import copy
from typing import Any

import click

from pyresque.core.app import Resque

__all__ = [
    "SHARD_META",
    "is_sharded",
    "narrow",
    "refuse_sharded",
    "shard_names",
    "shard_of_queue",
    "shard_option",
    "shard_views",
]

#: Where ``--shard`` leaves its value in the click context's shared ``meta``.
SHARD_META = "pyresque.shard"


def _keep(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:  # typed after the sub-command wins over the group's
        ctx.meta[SHARD_META] = value


def shard_option(func: Any) -> Any:
    """Add ``--shard NAME`` (not passed to the command: read by ``make_app``)."""
    return click.option(
        "--shard",
        default=None,
        metavar="NAME",
        expose_value=False,
        callback=_keep,
        help="With a shard spec (redis+shards://... or shards:FILE): work on this shard only.",
    )(func)


def chosen_shard() -> str | None:
    """The ``--shard`` of the running command, if any."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(SHARD_META)


def _sharded_backend(backend: object) -> Any:
    from pyresque.backends.redis.shards import ShardedBackend

    return backend if isinstance(backend, ShardedBackend) else None


def is_sharded(app: Resque) -> bool:
    """Whether ``app`` runs over several shards."""
    return _sharded_backend(app.backend) is not None


def narrow(backend: Any, name: str) -> Any:
    """The shard ``name`` of a sharded ``backend``.

    Raises:
        click.ClickException: ``backend`` is not sharded, or has no shard ``name``.
    """
    sharded = _sharded_backend(backend)
    if sharded is None:
        raise click.ClickException(
            f"--shard {name} needs a shard spec in --redis/REDIS_URL (redis+shards://... or shards:FILE)"
        )
    if name not in sharded.shards:
        raise click.ClickException(f"no shard named {name!r}; shards: {', '.join(sharded.shards)}")
    return sharded.shards[name]


def shard_names(app: Resque) -> list[str]:
    """The shards' names, in order (empty when not sharded)."""
    sharded = _sharded_backend(app.backend)
    return [] if sharded is None else list(sharded.shards)


def shard_views(app: Resque) -> list[tuple[str, Resque]]:
    """``app`` shard by shard: the same jobs, serializer and plugins over each shard's
    backend (closing ``app`` closes them all); ``[("", app)]`` when not sharded."""
    sharded = _sharded_backend(app.backend)
    if sharded is None:
        return [("", app)]
    views = []
    for name, shard in sharded.shards.items():
        view = copy.copy(app)
        view.backend = shard
        views.append((name, view))
    return views


def shard_of_queue(app: Resque, queue: str) -> str:
    """The shard ``queue`` lives on ("" when not sharded)."""
    sharded = _sharded_backend(app.backend)
    return "" if sharded is None else str(sharded.map.shard_of(queue))


def refuse_sharded(app: Resque, what: str) -> None:
    """Refuse, in one line naming ``--shard``, what runs on one shard only.

    Raises:
        click.ClickException: ``app`` is sharded.
    """
    names = shard_names(app)
    if names:
        raise click.ClickException(f"{what} runs on one shard: add --shard NAME (shards: {', '.join(names)})")
