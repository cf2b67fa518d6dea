"""The test kit: pyresque apps on fakeredis, jobs performed in-process, enqueue assertions.

Plain helpers work with any test runner::

    from pyresque.testing import fake_app, assert_enqueued

With pytest, the plugin (registered through the ``pytest11`` entry point) adds the
fixtures ``pyresque_app`` (a fresh app on fakeredis) and ``pyresque_inline_app`` (the
same, with every ``enqueue`` performed at once). Importing this module
has no side effects and does not need pytest; fakeredis is needed once an app is made
(``pip install pyresque[fakeredis]``).
"""

from __future__ import annotations

import importlib.util

from pyresque.core.errors import TooManyJobs
from pyresque.testing.assertions import (
    assert_enqueued,
    assert_not_enqueued,
    assert_scheduled,
    enqueued,
    scheduled,
)
from pyresque.testing.fake import fake_app, fake_backend, reset
from pyresque.testing.performing import Performed, PerformLog, adrain, drain, inline

__all__ = [
    "PerformLog",
    "Performed",
    "TooManyJobs",
    "adrain",
    "assert_enqueued",
    "assert_not_enqueued",
    "assert_scheduled",
    "drain",
    "enqueued",
    "fake_app",
    "fake_backend",
    "inline",
    "reset",
    "scheduled",
]

if importlib.util.find_spec("pytest") is not None:  # the fixtures, for the pytest11 entry point
    from pyresque.testing.plugin import pyresque_app, pyresque_inline_app  # noqa: F401
