"""The failure record, in Ruby Resque's exact field order.

``{"failed_at","payload","exception","error","backtrace","worker","queue"}`` plus
``retried_at`` once requeued. Records written by php-resque (same order), node-resque
(``worker, queue, payload, exception, error, backtrace, failed_at``) and pyres are read
too; fields we do not know are kept in ``extra`` and written back unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import reprlib
import traceback
from collections.abc import Mapping
from typing import Any

from pyresque.core import timefmt
from pyresque.core.errors import EncodeError
from pyresque.core.types import Payload
from pyresque.serializers.json import dumps_text, utf8_safe

__all__ = ["FailureRecord", "encodable_payload", "exception_name"]

_KNOWN = (
    "failed_at",
    "payload",
    "exception",
    "error",
    "backtrace",
    "worker",
    "queue",
    "retried_at",
)


def exception_name(exc: BaseException) -> str:
    """The class name recorded in ``exception``: qualified for non-builtins (``myapp.Boom``)."""
    cls = type(exc)
    if cls.__module__ in ("builtins", "__main__"):
        return cls.__qualname__
    if cls.__module__.startswith("pyresque."):
        return f"pyresque.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _bounded_repr(value: object) -> str:
    shortener = reprlib.Repr()
    shortener.maxlevel = 12
    shortener.maxlist = shortener.maxtuple = shortener.maxdict = shortener.maxset = 1000
    shortener.maxstring = shortener.maxother = shortener.maxlong = 10_000
    try:
        return utf8_safe(shortener.repr(value))
    except Exception:  # a value whose __repr__ raises
        return f"<a {type(value).__name__} that cannot be shown>"


def _degraded_payload(payload: object) -> Payload:
    """A payload JSON cannot carry, kept as ``{"class": None, ...}``: ``raw`` JSON text
    with NaN/Infinity as Python writes them, else ``raw_hex`` of its msgpack bytes
    (bytes values ...), else ``raw`` holding a bounded repr."""
    try:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)  # NaN allowed
        return {"class": None, "raw": utf8_safe(text)}
    except (TypeError, ValueError, RecursionError):
        pass
    try:
        import msgpack

        return {"class": None, "raw_hex": bytes(msgpack.packb(payload, use_bin_type=True)).hex()}
    except Exception:  # not installed, or not msgpack either
        pass
    return {"class": None, "raw": _bounded_repr(payload)}


def encodable_payload(payload: Any) -> Payload:
    """``payload`` if a failure record can carry it as JSON (UTF-8), else the payload
    kept as text or hex (``{"class": None, "raw": ...}`` / ``"raw_hex"``): a payload
    holding NaN, bytes or nesting too deep for the encoder must not keep its failure
    from being written. Never raises."""
    if isinstance(payload, dict):
        try:
            dumps_text(payload)
            return payload
        except EncodeError:
            pass
    return _degraded_payload(payload)


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # an exception whose __str__ raises
        return f"{exception_name(exc)} (its message cannot be shown)"
    return utf8_safe(text) or exception_name(exc)


@dataclasses.dataclass(frozen=True, slots=True)
class FailureRecord:
    """One entry of the ``failed`` list.

    Attributes:
        failed_at: the time as written (``2026/11/23 17:23:27 UTC`` for ours).
        payload: the job payload; for undecodable payloads ``{"class": None, "raw": ...}``.
        exception: the exception class name.
        error: the exception message.
        backtrace: the traceback as a list of lines.
        worker: the full worker id (``host:pid:queues``).
        queue: the queue the job came from.
        retried_at: set when the entry was requeued.
        extra: any other fields of a foreign record, kept as they were.
    """

    failed_at: str
    payload: Payload
    exception: str
    error: str
    backtrace: list[str]
    worker: str
    queue: str
    retried_at: str | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_exception(
        cls,
        exc: BaseException,
        *,
        payload: Payload,
        queue: str,
        worker: str,
        when: dt.datetime | float | None = None,
    ) -> FailureRecord:
        """Record ``exc`` raised by the job ``payload`` taken from ``queue`` by ``worker``.

        Never raises for the payload's or the exception's sake: a payload JSON cannot
        carry is kept as text or hex (:func:`encodable_payload`), a message that cannot
        be shown is replaced by a note saying so.
        """
        lines: list[str] = []
        if exc.__traceback__ is not None:
            for frame in traceback.extract_tb(exc.__traceback__):
                lines.append(utf8_safe(f"{frame.filename}:{frame.lineno}:in `{frame.name}'"))
        return cls(
            failed_at=timefmt.ruby_failed_at(when),
            payload=encodable_payload(payload),
            exception=exception_name(exc),
            error=_message(exc),
            backtrace=lines,
            worker=worker,
            queue=queue,
        )

    def to_dict(self) -> dict[str, Any]:
        """The record in Ruby's field order, ``retried_at`` last, foreign fields after."""
        data: dict[str, Any] = {
            "failed_at": self.failed_at,
            "payload": self.payload,
            "exception": self.exception,
            "error": self.error,
            "backtrace": self.backtrace,
            "worker": self.worker,
            "queue": self.queue,
        }
        if self.retried_at is not None:
            data["retried_at"] = self.retried_at
        for key, value in self.extra.items():
            data.setdefault(key, value)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FailureRecord:
        """Read a record written by any Resque implementation (missing fields become empty)."""
        payload = data.get("payload")
        backtrace = data.get("backtrace")
        return cls(
            failed_at=str(data.get("failed_at") or ""),
            payload=payload if isinstance(payload, dict) else {"class": None, "raw": payload},
            exception=str(data.get("exception") or ""),
            error=str(data.get("error") or ""),
            backtrace=[str(x) for x in backtrace] if isinstance(backtrace, list) else [],
            worker=str(data.get("worker") or ""),
            queue=str(data.get("queue") or ""),
            retried_at=str(data["retried_at"]) if data.get("retried_at") else None,
            extra={k: v for k, v in data.items() if k not in _KNOWN},
        )

    def encodable(self) -> FailureRecord:
        """This record with whatever JSON (UTF-8) cannot carry replaced: the payload kept
        as text or hex, other values as text. Never raises."""
        extra: dict[str, Any] = {}
        for key, value in self.extra.items():
            try:
                dumps_text(value)
                extra[utf8_safe(str(key))] = value
            except EncodeError:
                extra[utf8_safe(str(key))] = _bounded_repr(value)
        return dataclasses.replace(
            self,
            failed_at=utf8_safe(str(self.failed_at)),
            payload=encodable_payload(self.payload),
            exception=utf8_safe(str(self.exception)),
            error=utf8_safe(str(self.error)),
            backtrace=[utf8_safe(str(line)) for line in self.backtrace]
            if isinstance(self.backtrace, list)
            else [],
            worker=utf8_safe(str(self.worker)),
            queue=utf8_safe(str(self.queue)),
            retried_at=None if self.retried_at is None else utf8_safe(str(self.retried_at)),
            extra=extra,
        )

    @property
    def failed_at_time(self) -> dt.datetime | None:
        """``failed_at`` parsed, whichever implementation wrote it."""
        return timefmt.parse_any(self.failed_at)
