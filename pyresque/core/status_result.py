"""A finished job's return value as the ``result`` of its status (``job:<id>:status``).

The status is php-resque's JSON object; its ``result`` is the job's return value as
JSON. A value JSON cannot carry (an object, a set, bytes, NaN, nesting too deep ...)
is not dropped silently: the result becomes ``{"unserializable": "<type>"}``, the
type's qualified name (``datetime.datetime``, ``myapp.jobs.Report``; builtins by their
bare name: ``set``), and one WARNING is logged for the job.
"""

from __future__ import annotations

import logging
from typing import Any

from pyresque.core.errors import EncodeError
from pyresque.serializers.json import dumps_text

__all__ = ["UNSERIALIZABLE_KEY", "status_result_json", "type_name"]

log = logging.getLogger("pyresque.worker")

#: The key of the result that stands for a value JSON cannot carry.
UNSERIALIZABLE_KEY = "unserializable"


def type_name(value: object) -> str:
    """``module.QualName`` of the value's type (just ``QualName`` for builtins)."""
    kind = type(value)
    module = getattr(kind, "__module__", None)
    name = getattr(kind, "__qualname__", kind.__name__)
    return name if module in (None, "builtins") else f"{module}.{name}"


def status_result_json(result: Any) -> str:
    """``result`` as JSON text, or ``{"unserializable": "<type>"}`` (logged) if JSON cannot carry it."""
    try:
        return dumps_text(result)
    except (EncodeError, RecursionError):
        name = type_name(result)
        log.warning(
            'a job returned a %s, which JSON cannot carry: a tracked status keeps {"%s": "%s"} as its result',
            name,
            UNSERIALIZABLE_KEY,
            name,
        )
        return dumps_text({UNSERIALIZABLE_KEY: name})
