"""Knowing whether performing a job wrote a failure record, whoever wrote it.

A worker writes a failed job's record itself, unless an ``on_failure`` plugin reports
the failure handled. Such a plugin may still write a record: the retry plugin writes
the one record of a job it gave up on, and writes none for a job it retried. The kit
tells the two apart by watching the app's failure store while it performs a job:
:class:`SaveWatch` counts the records saved through ``app.failures`` from the kit's
own thread. The store object stays the same (its type decides how the worker writes
records, see :func:`~pyresque.backends.failure.writes_failed_list`): only its
``save`` is wrapped, for the duration of a ``drain`` call or an ``inline`` block.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyresque.backends.base import FailureStore
    from pyresque.core.app import Resque
    from pyresque.core.failure import FailureRecord

__all__ = ["SaveWatch"]

_UNSET = object()


class SaveWatch:
    """Counts the failure records saved through the app's failure store while installed.

    Use as ``with SaveWatch(app) as watch:``; ``watch.saved`` only grows. Watches
    nest (each puts back what it found). A store whose ``save`` cannot be wrapped (a
    class with ``__slots__``) is not watched: ``saved`` stays 0.
    """

    def __init__(self, app: Resque) -> None:
        self.backend = app.backend
        self.saved = 0
        self._store: FailureStore | None = None
        self._previous: Any = _UNSET
        self._thread = 0

    def __enter__(self) -> SaveWatch:
        store = self.backend.failures
        self._thread = threading.get_ident()
        previous = store.__dict__.get("save", _UNSET) if hasattr(store, "__dict__") else _UNSET
        inner: Callable[[FailureRecord], None] = store.save

        def save(record: FailureRecord) -> None:
            inner(record)
            if threading.get_ident() == self._thread:
                self.saved += 1

        try:
            store.save = save  # type: ignore[method-assign]
        except (AttributeError, TypeError):
            return self
        self._store, self._previous = store, previous
        return self

    def __exit__(self, *exc_info: object) -> None:
        store, self._store = self._store, None
        if store is None:
            return
        if self._previous is _UNSET:
            del store.save
        else:
            store.save = self._previous  # type: ignore[method-assign]
