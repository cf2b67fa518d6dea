"""Retry policies: when to retry a failed job, after how long, and the attempt key.

A policy comes from the job class (resque-retry's class attributes) or from the app
(``RetryPlugin(policies=...)``). The attempt counter key is resque-retry's
``resque-retry:<Class>[:<sha1 of the args joined by '-'>]`` so a Ruby worker and a
pyresque worker count the attempts of one job together.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from collections.abc import Sequence
from typing import Any

from pyresque.core.errors import ConfigurationError

__all__ = ["RetryPolicy", "retry_identifier", "ruby_join"]

_ExcTypes = tuple[type[BaseException], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a job class is retried.

    Attributes:
        limit: retries after the first run (resque-retry ``retry_limit``; ``-1``: forever).
        delay: seconds before a retry (``retry_delay``); ``0`` re-enqueues at once.
        backoff: delays per retry, the last repeating (``backoff_strategy``); overrides
            ``delay`` and ``exponential``.
        exponential: ``delay * factor ** n`` for the n-th retry (n from 0).
        factor: the exponential base.
        max_delay: a cap on the computed delay (before jitter).
        jitter: the delay is multiplied by ``rng.uniform(*jitter)`` (resque-retry's
            ``retry_delay_multiplicand_min/max``); ``(1.0, 1.0)`` means no jitter.
        retry_exceptions: retry only these exception classes (``None``: any).
        fatal_exceptions: never retry these (checked first).
        expire_key_after: seconds after which the attempt counter expires.
        exception_delays: ``(exception class, delays)`` pairs: the first class the
            exception is an instance of gives the delays (indexed by retry, the last
            repeating), instead of ``delay``/``backoff`` (resque-retry's Hash form of
            ``retry_exceptions``).
    """

    limit: int
    delay: float = 0.0
    backoff: tuple[float, ...] = ()
    exponential: bool = False
    factor: float = 2.0
    max_delay: float | None = None
    jitter: tuple[float, float] = (1.0, 1.0)
    retry_exceptions: _ExcTypes | None = None
    fatal_exceptions: _ExcTypes = ()
    expire_key_after: int | None = None
    exception_delays: tuple[tuple[type[BaseException], tuple[float, ...]], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < -1:
            raise ConfigurationError(f"retry limit must be an int >= -1, not {self.limit!r}")
        for name, value in (("delay", self.delay), ("factor", self.factor), *_named("backoff", self.backoff)):
            _check_seconds(name, value)
        if self.factor < 1:
            raise ConfigurationError(f"retry factor must be >= 1, not {self.factor!r}")
        if self.backoff and self.exponential:
            raise ConfigurationError(
                "a backoff schedule (backoff_strategy) and exponential backoff "
                "(retry_exponential_backoff) are alternatives: set one of them"
            )
        if self.max_delay is not None:
            _check_seconds("max_delay", self.max_delay)
        low, high = self.jitter
        _check_seconds("jitter", low)
        _check_seconds("jitter", high)
        if low > high:
            raise ConfigurationError(f"retry jitter must be (min, max) with min <= max, not {self.jitter!r}")
        for name, classes in (
            ("retry_exceptions", self.retry_exceptions or ()),
            ("fatal", self.fatal_exceptions),
        ):
            for cls in classes:
                if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                    raise ConfigurationError(f"{name} must hold exception classes, not {cls!r}")
        for cls, delays in self.exception_delays:
            if not (isinstance(cls, type) and issubclass(cls, BaseException)) or not delays:
                raise ConfigurationError(f"exception_delays needs (exception class, delays), not {cls!r}")
            for value in delays:
                _check_seconds("exception delay", value)
        if self.expire_key_after is not None and (
            isinstance(self.expire_key_after, bool)
            or not isinstance(self.expire_key_after, int)
            or self.expire_key_after <= 0
        ):
            raise ConfigurationError(
                f"expire_key_after must be a positive int, not {self.expire_key_after!r}"
            )

    @classmethod
    def from_class(cls, target: Any) -> RetryPolicy | None:
        """The policy a job class declares with resque-retry's attributes, or ``None``.

        Recognised: ``retry_limit``, ``retry_delay``, ``backoff_strategy``,
        ``retry_exponential_backoff``, ``retry_backoff_factor``, ``retry_max_delay``,
        ``retry_delay_multiplicand_min``, ``retry_delay_multiplicand_max``,
        ``retry_exceptions``, ``fatal_exceptions``, ``expire_retry_key_after``. A class
        with ``backoff_strategy`` but no ``retry_limit`` retries once per listed delay,
        as resque-retry's ``ExponentialBackoff``.

        Raises:
            ConfigurationError: an attribute has an unusable value.
        """
        limit = getattr(target, "retry_limit", None)
        backoff = getattr(target, "backoff_strategy", None)
        if limit is None and backoff is None:
            return None
        name = getattr(target, "__qualname__", repr(target))
        try:
            backoff_t = tuple(backoff) if backoff is not None else ()
            if limit is None:
                limit = len(backoff_t)
            return cls(
                limit=limit,
                delay=getattr(target, "retry_delay", 0.0),
                backoff=backoff_t,
                exponential=bool(getattr(target, "retry_exponential_backoff", False)),
                factor=getattr(target, "retry_backoff_factor", 2.0),
                max_delay=getattr(target, "retry_max_delay", None),
                jitter=(
                    getattr(target, "retry_delay_multiplicand_min", 1.0),
                    getattr(target, "retry_delay_multiplicand_max", 1.0),
                ),
                retry_exceptions=_exc_tuple(getattr(target, "retry_exceptions", None)),
                exception_delays=_exc_delays(getattr(target, "retry_exceptions", None)),
                fatal_exceptions=_exc_tuple(getattr(target, "fatal_exceptions", None)) or (),
                expire_key_after=getattr(target, "expire_retry_key_after", None),
            )
        except (ConfigurationError, TypeError) as exc:
            raise ConfigurationError(f"retry settings of {name}: {exc}") from exc

    def should_retry(self, exception: BaseException, attempt: int) -> bool:
        """Whether a run numbered ``attempt`` (0 = first) that raised ``exception`` is retried."""
        if self.fatal_exceptions and isinstance(exception, self.fatal_exceptions):
            return False
        if self.retry_exceptions is not None and not isinstance(exception, self.retry_exceptions):
            return False
        if self.limit == -1:
            return True
        return attempt < self.limit

    def delay_for(self, attempt: int, rng: random.Random, exception: BaseException | None = None) -> float:
        """Seconds to wait before retrying after run ``attempt`` (0 = first) failed.

        ``rng`` is drawn from only when there is jitter, so a seeded RNG gives an
        exact, reproducible schedule.
        """
        per_class = self._delays_of(exception)
        if per_class:
            base = per_class[min(attempt, len(per_class) - 1)]
        elif self.backoff:
            base = self.backoff[min(attempt, len(self.backoff) - 1)]
        elif self.exponential:
            base = self.delay * self.factor ** min(attempt, 64)
        else:
            base = self.delay
        if self.max_delay is not None:
            base = min(base, self.max_delay)
        low, high = self.jitter
        if (low, high) != (1.0, 1.0):
            base *= rng.uniform(low, high)
        return float(base)

    def _delays_of(self, exception: BaseException | None) -> tuple[float, ...]:
        if exception is None:
            return ()
        for cls, delays in self.exception_delays:
            if isinstance(exception, cls):
                return delays
        return ()


def _named(name: str, values: Sequence[float]) -> list[tuple[str, float]]:
    return [(name, v) for v in values]


def _check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ConfigurationError(f"retry {name} must be a finite number >= 0, not {value!r}")


def _exc_delays(value: object) -> tuple[tuple[type[BaseException], tuple[float, ...]], ...]:
    """The Hash form ``{ExcClass: delay or [delays]}`` as policy pairs (``()`` otherwise)."""
    if not isinstance(value, dict):
        return ()
    pairs = []
    for cls, delay in value.items():
        delays = tuple(delay) if isinstance(delay, list | tuple) else (delay,)
        pairs.append((cls, delays))
    return tuple(pairs)


def _exc_tuple(value: object) -> _ExcTypes | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = tuple(value)
    if isinstance(value, type):
        value = (value,)
    if not isinstance(value, list | tuple | set | frozenset):
        raise ConfigurationError(f"expected exception classes, not {value!r}")
    return tuple(value)


# --- resque-retry's key ---------------------------------------------------------------
def ruby_join(args: Sequence[Any], sep: str = "-") -> str:
    """Ruby's ``Array#join(sep)`` of JSON-decoded args (nested arrays flatten, nil is "")."""
    return sep.join(ruby_join(a, sep) if isinstance(a, list | tuple) else _ruby_to_s(a) for a in args)


def _ruby_to_s(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _ruby_inspect(value)


def _ruby_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        return f"{mantissa}e{exp}"
    return text


def _ruby_inspect(value: Any) -> str:
    """Ruby 3.1-3.3 ``inspect`` of a JSON value (``{"a"=>1}``, ``[1, nil]``, ``"s"``)."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _ruby_float(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        escaped = escaped.replace("\t", "\\t").replace("\r", "\\r").replace("#{", "\\#{")
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_ruby_inspect(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_ruby_inspect(k)}=>{_ruby_inspect(v)}" for k, v in value.items()) + "}"
    return str(value)


def retry_identifier(args: Sequence[Any]) -> str | None:
    """resque-retry's ``retry_identifier``: SHA1 hex of the args joined by ``-``, or ``None``.

    ``None`` when the joined string is empty (no args), as in Ruby.
    """
    joined = ruby_join(args)
    if not joined:
        return None
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()
