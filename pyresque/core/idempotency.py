"""Idempotent enqueue: caller-chosen job ids, idempotency keys, and the safe retry loop.

A lost reply (the connection dropped after Redis ran the push) leaves the caller not
knowing whether its job was enqueued. A blind retry may enqueue it twice, so pyresque
never retries an enqueue on its own. With an idempotency key (or a caller-chosen job
id, which is the key when no key is given) the push is guarded in its own script by
a marker ``<ns>:enqueued:<key>`` (``SET`` only if absent, with a TTL): a repeat of the
call within the TTL pushes nothing and returns the first call's job id, so retrying
after a connection error is safe.

The marker holds ``"<job id> <call token>"``; the token (random, one per ``enqueue``
call, kept across its retries) tells the call that pushed the job from a later call
that found the key taken, so ``after_enqueue`` hooks run once per job.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from pyresque.backends.base import EnqueueGuard
from pyresque.core.errors import ConfigurationError

if TYPE_CHECKING:
    from pyresque.core.job import Job

__all__ = [
    "DEFAULT_IDEMPOTENCY_TTL",
    "MAX_KEY_LENGTH",
    "call_token",
    "make_guard",
    "marker_value",
    "parse_marker",
    "retry_on",
    "validate_idempotency_key",
    "validate_job_id",
    "validate_retries",
    "validate_ttl",
]

T = TypeVar("T")

#: How long a marker keeps a key taken (seconds): 24 h.
DEFAULT_IDEMPOTENCY_TTL = 86_400

#: Longest idempotency key accepted (characters).
MAX_KEY_LENGTH = 200

#: Seconds slept before retry 1, 2, 3 ... (the last value repeats). The first retry is
#: immediate: a lost reply usually means one dropped connection, and the retry opens a
#: new one.
RETRY_BACKOFF = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)

_JOB_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def validate_job_id(job_id: object) -> str:
    """Return ``job_id`` if it can be a caller-chosen job id.

    Raises:
        ConfigurationError: not a string of 1 to 64 characters among ``A-Z a-z 0-9 _ . -``
            (the id goes into Redis keys and every Resque implementation's payloads).
    """
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise ConfigurationError(
            f"job_id must be 1 to 64 characters among A-Z, a-z, 0-9, '_', '.', '-': {job_id!r:.80}"
        )
    return job_id


def validate_idempotency_key(key: object) -> str:
    """Return ``key`` if it can be an idempotency key.

    Raises:
        ConfigurationError: not a string of 1 to :data:`MAX_KEY_LENGTH` characters, or
            holding whitespace or a control character.
    """
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH:
        raise ConfigurationError(
            f"idempotency_key must be a string of 1 to {MAX_KEY_LENGTH} characters: {key!r:.80}"
        )
    if any(c.isspace() or not c.isprintable() for c in key):
        raise ConfigurationError(f"idempotency_key cannot hold whitespace or control characters: {key!r:.80}")
    return key


def validate_ttl(ttl: object) -> int:
    """Return ``ttl`` if it is a usable marker lifetime (whole seconds, at least 1).

    Raises:
        ConfigurationError: not an ``int`` >= 1.
    """
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
        raise ConfigurationError(f"idempotency_ttl must be a whole number of seconds >= 1: {ttl!r}")
    return ttl


def validate_retries(retries: object, guarded: bool) -> int:
    """Return ``retries`` if usable: an ``int`` >= 0, and > 0 only for a guarded enqueue.

    Raises:
        ConfigurationError: negative or not an int, or retries asked for without an
            ``idempotency_key``/``job_id`` (a blind retry may enqueue the job twice).
    """
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigurationError(f"retries must be an int >= 0: {retries!r}")
    if retries and not guarded:
        raise ConfigurationError(
            "retries needs an idempotency_key or a job_id: retrying an enqueue whose reply was lost "
            "could enqueue the job twice"
        )
    return retries


def call_token() -> str:
    """A new call token (16 hex characters): one per enqueue call, kept across its retries."""
    return os.urandom(8).hex()


def marker_value(job_id: str, token: str) -> str:
    """What the marker of a key holds: the job id and the token of the call that pushed it."""
    return f"{job_id} {token}"


def parse_marker(value: str) -> tuple[str, str]:
    """``(job id, call token)`` from a marker value (a token-less value: token ``""``)."""
    job_id, _, token = value.partition(" ")
    return job_id, token


def make_guard(
    built: Job, job_id: str | None, idempotency_key: str | None, token: str, ttl: int
) -> EnqueueGuard | None:
    """The guard of an enqueue of ``built`` (``None`` when neither a key nor a job id
    was given): keyed by ``idempotency_key``, else by the caller-chosen ``job_id``.

    Raises:
        ConfigurationError: the key is unusable.
    """
    if idempotency_key is not None:
        key = validate_idempotency_key(idempotency_key)
    elif job_id is not None:
        key = validate_job_id(job_id)
    else:
        return None
    assert built.id is not None
    return EnqueueGuard(key, marker_value(built.id, token), ttl)


def retry_on(
    errors: tuple[type[BaseException], ...],
    retries: int,
    attempt: Callable[[], T],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``attempt`` until it returns, retrying up to ``retries`` times on ``errors``.

    Only for attempts that are safe to repeat (a guarded push); the last error is raised.
    """
    for n in range(retries + 1):
        try:
            return attempt()
        except errors:
            if n == retries:
                raise
        sleep(RETRY_BACKOFF[min(n, len(RETRY_BACKOFF) - 1)])
    raise AssertionError("unreachable")  # pragma: no cover
