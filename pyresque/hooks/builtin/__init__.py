"""Plugins pyresque ships and registers on every app.

- :class:`~pyresque.hooks.builtin.perform.DefaultPerform`: the innermost
  ``pyresque_perform`` implementation, which runs the job.
- :class:`~pyresque.hooks.builtin.jobclass.JobClassHooks`: Ruby-style hooks defined on
  the job class (``before_perform_*``, ``around_perform_*``, ``on_failure_*`` ...).
- :class:`~pyresque.hooks.builtin.retry.RetryPlugin`: retries with backoff, opt-in per
  job class (``retry_limit = 3``) or per app.
"""

from __future__ import annotations

#: Registration names of the built-in plugins (``PYRESQUE_DISABLE_PLUGINS`` may name
#: ``pyresque.jobclass`` or ``pyresque.retry``; the default perform cannot be blocked).
PERFORM_NAME = "pyresque.perform"
JOBCLASS_NAME = "pyresque.jobclass"
RETRY_NAME = "pyresque.retry"

__all__ = ["JOBCLASS_NAME", "PERFORM_NAME", "RETRY_NAME"]
