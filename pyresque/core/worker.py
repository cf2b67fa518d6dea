"""The worker (being built by the worker issue)."""

from __future__ import annotations


class Worker:
    """Placeholder so hook specs can name the type; replaced by the real worker."""
