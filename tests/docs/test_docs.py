"""The cases of the docs harness: one per fenced block of README.md and docs/*.md.

The conventions are in :mod:`tests.docs.harness` (and tests/docs/README.md). Run one page:
``.venv/bin/python -m pytest tests/docs -k workers.md``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.docs.blocks import Page, pages, parse_page
from tests.docs.harness import exemptions, run_block
from tests.docs.page import PageRun

pytestmark = pytest.mark.redis

#: pages whose blocks are known to fail, with why (non-strict xfail); the aim is an empty dict
EXPECTED_TO_FAIL: dict[str, str] = {}

PAGES = {path: parse_page(path) for path in pages()}


def _marks(path: str) -> list[pytest.MarkDecorator]:
    if path not in EXPECTED_TO_FAIL:
        return []
    return [pytest.mark.xfail(reason=EXPECTED_TO_FAIL[path], strict=False)]


CASES = [
    pytest.param((path, index), id=page.blocks[index].id, marks=_marks(path))
    for path, page in PAGES.items()
    for index in range(len(page.blocks))
]


@pytest.mark.parametrize("case", CASES)
def test_block(case: tuple[str, int], doc_page: Callable[[Page], PageRun]) -> None:
    """The block runs (or validates) in its page's context (the page as collected)."""
    path, index = case
    run = doc_page(PAGES[path])
    run.run(index, run_block)
    if index == len(PAGES[path].blocks) - 1:
        run.close_page()


@pytest.mark.parametrize("path", list(PAGES), ids=[f"{p}:directives" for p in PAGES])
def test_directives(path: str) -> None:
    """Every doc-test directive of the page is known and belongs to a block."""
    assert not PAGES[path].errors, "\n".join(PAGES[path].errors)


def test_exemptions_have_reasons() -> None:
    """Every exempted block says why (the list is printed at the end of the run)."""
    for block_id, reason in exemptions(list(PAGES.values())):
        assert len(reason.split()) >= 3, f"{block_id}: a skip must say why"
