"""The job as data: a frozen dataclass with no I/O, and its payload shape.

The payload shape (field order included) lives here and nowhere else:
``{"class": ..., "args": [...], "id": ..., "queue_time": ...}``. Ruby Resque writes
``class`` and ``args`` only; php-resque adds ``id`` and ``queue_time``; every known
reader ignores fields it does not know.
"""

from __future__ import annotations

import dataclasses
import os
import reprlib
import time
from collections.abc import Mapping
from typing import Any, Literal

from pyresque.core.errors import ConfigurationError, InvalidJobError, InvalidQueueName
from pyresque.core.types import Payload

__all__ = [
    "PAYLOAD_FORMS",
    "Job",
    "PayloadForm",
    "check_ruby_form",
    "new_job_id",
    "queue_time",
    "validate_payload_form",
    "validate_queue_name",
]

#: What an enqueue writes: ``"full"`` is ``{"class","args","id","queue_time"}`` (the
#: default: an id for statuses, idempotency and ``dequeue(id=...)``); ``"ruby"`` is Ruby
#: Resque's exact ``{"class","args"}``, the bytes Ruby's ``Resque.dequeue(Klass, *args)``
#: and resque-scheduler's ``remove_delayed`` look for.
PayloadForm = Literal["full", "ruby"]
PAYLOAD_FORMS: tuple[PayloadForm, ...] = ("full", "ruby")


def validate_payload_form(form: object) -> PayloadForm:
    """Return ``form`` if it is a :data:`PayloadForm`.

    Raises:
        ConfigurationError: it is not ``"full"`` or ``"ruby"``.
    """
    for known in PAYLOAD_FORMS:
        if form == known and isinstance(form, str):
            return known
    raise ConfigurationError(f"payload_form must be 'full' or 'ruby', not {form!r}")


def check_ruby_form(
    track_status: bool, job_id: str | None, idempotency_key: str | None, retries: int
) -> None:
    """Refuse what needs a job id, which a Ruby-form payload does not carry.

    Raises:
        ConfigurationError: status tracking, a ``job_id``, an ``idempotency_key`` or
            ``retries`` was asked for with the Ruby form (nothing is written).
    """
    asked = [
        name
        for name, given in (
            ("track_status", track_status),
            ("job_id", job_id is not None),
            ("idempotency_key", idempotency_key is not None),
            ("retries", bool(retries)),
        )
        if given
    ]
    if asked:
        raise ConfigurationError(
            f"the 'ruby' payload form carries no job id, so {', '.join(asked)} cannot be used with it "
            "(use payload_form='full')"
        )


def new_job_id() -> str:
    """A new job id: 32 lowercase hex characters (128 random bits), php-resque's shape."""
    return os.urandom(16).hex()


def queue_time() -> float:
    """The enqueue time as php-resque's ``queue_time`` float, never integral.

    JavaScript writes an integral float as an integer (``1795454611``), so an entry
    holding one would not match node-resque's exact-bytes comparisons after a round
    trip; a microsecond is added in the rare case the clock reads a whole second.
    """
    now = time.time()
    return now + 1e-6 if now == int(now) else now


def validate_queue_name(queue: object) -> str:
    """Return ``queue`` if it can name a Resque queue.

    Raises:
        InvalidQueueName: not a string, empty, blank, padded with spaces, holding
            a comma (worker ids join queue names with commas) or a control character,
            or one a worker would read as a pattern: ``*``, ``?`` or ``[`` anywhere
            (a glob) or a leading ``!`` (an exclusion). Such a queue could never be
            named alone in ``QUEUE``, so no escaping is offered: it is refused.
    """
    if not isinstance(queue, str):
        raise InvalidQueueName(f"queue name must be a string, not {type(queue).__name__}")
    if not queue or queue.strip() != queue:
        raise InvalidQueueName(f"queue name must be non-empty and unpadded: {queue!r}")
    if "," in queue or any(ord(c) < 32 for c in queue) or queue == "*":
        raise InvalidQueueName(f"queue name cannot contain ',', control characters or be '*': {queue!r}")
    if queue.startswith("!") or _PATTERN_CHARS.intersection(queue):
        raise InvalidQueueName(
            f"queue name cannot contain '*', '?' or '[' or start with '!': a worker reads "
            f"those as a pattern, not as this queue: {queue!r}"
        )
    return queue


#: what makes a worker's ``QUEUE`` entry a glob (``!`` at the start: an exclusion)
_PATTERN_CHARS = frozenset("*?[")


def _brief(value: object) -> str:
    """A short repr for an error message (bounded, whatever the size or depth of ``value``)."""
    try:
        return reprlib.repr(value)[:200]
    except Exception:  # a value whose __repr__ raises
        return f"<{type(value).__name__}>"


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    """One job: what to run (``class_name``), with what (``args``), from where (``queue``).

    Attributes:
        queue: the queue the job was (or will be) pushed to.
        class_name: the Resque class string, resolved by the worker's registry.
        args: positional arguments (Ruby/node convention; php-resque jobs take one).
        id: the job id, when the payload carries one (pyresque and php-resque do).
        extra: every other payload field, kept in order so nothing is lost on requeue.
    """

    queue: str
    class_name: str
    args: tuple[Any, ...] = ()
    id: str | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def new(cls, queue: str, class_name: str, args: tuple[Any, ...] | list[Any] = ()) -> Job:
        """A fresh job with a new id and the enqueue time, ready to push."""
        return cls(
            queue=queue,
            class_name=class_name,
            args=tuple(args),
            id=new_job_id(),
            extra={"queue_time": queue_time()},
        )

    def to_payload(self) -> Payload:
        """The payload dict in wire order: class, args, id, then the other fields."""
        payload: Payload = {"class": self.class_name, "args": list(self.args)}
        if self.id is not None:
            payload["id"] = self.id
        for key, value in self.extra.items():
            if key not in payload:
                payload[key] = value
        return payload

    @classmethod
    def from_payload(cls, payload: object, queue: str) -> Job:
        """Build a job from a decoded payload.

        Raises:
            InvalidJobError: the payload is not an object, has no string ``class``,
                or its ``args`` is not a list (the message is short, whatever the payload).
        """
        if not isinstance(payload, dict):
            raise InvalidJobError(f"payload must be a JSON object, not {type(payload).__name__}")
        class_name = payload.get("class")
        if not isinstance(class_name, str) or not class_name:
            why = "" if class_name in (None, "") else f" (a {type(class_name).__name__}, not a string)"
            raise InvalidJobError(f"payload has no job class{why}: {_brief(payload)}")
        args = payload.get("args", [])
        if not isinstance(args, list):
            raise InvalidJobError(f"payload args must be a list, not {type(args).__name__}")
        job_id = payload.get("id")
        own = ("class", "args", "id") if isinstance(job_id, str) else ("class", "args")
        extra = {k: v for k, v in payload.items() if k not in own}
        return cls(
            queue=queue,
            class_name=class_name,
            args=tuple(args),
            id=job_id if isinstance(job_id, str) else None,
            extra=extra,
        )
