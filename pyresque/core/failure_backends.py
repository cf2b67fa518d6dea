"""Moved to :mod:`pyresque.backends.failure` (picking a store by name is the backends'
business); kept so that old imports still work."""

from __future__ import annotations

from pyresque.backends.failure import (
    FAILURE_BACKENDS,
    CallbackFailureStore,
    FailureBackendSpec,
    Multiple,
    make_failure_store,
    writes_failed_list,
)

__all__ = [
    "FAILURE_BACKENDS",
    "CallbackFailureStore",
    "FailureBackendSpec",
    "Multiple",
    "make_failure_store",
    "writes_failed_list",
]
