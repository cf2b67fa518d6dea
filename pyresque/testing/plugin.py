"""pytest fixtures (loaded through the ``pytest11`` entry point when pytest runs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyresque.core.app import Resque
from pyresque.testing.fake import fake_app
from pyresque.testing.performing import inline

__all__ = ["pyresque_app", "pyresque_inline_app"]


@pytest.fixture
def pyresque_app() -> Iterator[Resque]:
    """A fresh pyresque app on fakeredis, closed after the test.

    To test your project's own app (jobs already registered), wrap it instead:
    ``with pyresque.testing.fake_backend(myproject.app) as app: ...``.
    """
    app = fake_app()
    yield app
    app.close()


@pytest.fixture
def pyresque_inline_app() -> Iterator[Resque]:
    """A fresh pyresque app on fakeredis in inline mode: ``enqueue`` performs the job at once
    (after a round trip through the serializer and the backend); failures raise."""
    app = fake_app()
    with inline(app):
        yield app
    app.close()
