"""The innermost ``pyresque_perform`` implementation: it runs the job."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyresque.hooks import hookimpl

__all__ = ["DefaultPerform"]


class DefaultPerform:
    """Calls ``runner()`` (``set_up``, ``perform``, ``tear_down``) and returns its result.

    Registered ``trylast`` on every app, so ``@hookimpl(wrapper=True)`` implementations
    of ``pyresque_perform`` (around-perform hooks) always wrap the real job.
    """

    @hookimpl(trylast=True)
    def pyresque_perform(self, runner: Callable[[], Any]) -> Any:
        """Run the job."""
        return runner()
