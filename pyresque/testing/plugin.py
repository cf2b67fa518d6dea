"""pytest fixtures (loaded through the ``pytest11`` entry point when pytest runs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyresque.core.app import Resque
from pyresque.testing.fake import fake_app

__all__ = ["pyresque_app"]


@pytest.fixture
def pyresque_app() -> Iterator[Resque]:
    """A fresh pyresque app on fakeredis, closed after the test.

    To test your project's own app (jobs already registered), wrap it instead:
    ``with pyresque.testing.fake_backend(myproject.app) as app: ...``.
    """
    app = fake_app()
    yield app
    app.close()
