"""pluggy hooks: the event system. Implement with ``@hookimpl``; see ``specs``."""

from __future__ import annotations

import pluggy

__all__ = ["PROJECT", "hookimpl", "hookspec"]

#: The pluggy project name, also the entry-point group plugins register under.
PROJECT = "pyresque"

#: Marks a plugin's hook implementations.
hookimpl = pluggy.HookimplMarker(PROJECT)

#: Marks hook specifications (used by ``pyresque.hooks.specs``).
hookspec = pluggy.HookspecMarker(PROJECT)
