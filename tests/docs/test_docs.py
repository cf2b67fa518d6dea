"""Every fenced code block of README.md and docs/*.md is a test case, run or validated.

The conventions (tests/docs/README.md has them with examples):

- One case per block, id ``docs/page.md:LINE`` (the opening fence). Run one page with
  ``.venv/bin/python -m pytest tests/docs -k workers.md``; selecting one block runs the
  earlier blocks of its page first.
- By language: ``python``/``py`` run in order in one namespace per page, in the page's
  temporary folder; ``sh``/``bash``/``shell`` commands run with ``bash -c``; ``console``
  runs ``$ `` lines and compares the lines under them (``...`` elides); ``yaml``/``json``/
  ``toml`` are parsed (a schedule is loaded by ``load_schedule_file``); ``ini`` is parsed
  (a systemd unit is checked); ``text`` must say what it is. Any other language, or none,
  FAILS.
- ``redis://localhost:6379/N`` and ``localhost:6379[:N]`` in any block are rewritten to
  the session's redis-server, each database a page uses mapped to a fresh one (1-15).
- A python block whose first line is ``# some/path.py`` is that file: written to the
  page's folder and imported as ``some.path`` (a worker started by a later shell block
  imports the same file).
- Long-running commands (``pyresque worker`` without ``--burst``, ``pyresque scheduler``)
  fail unless the block has ``burst`` or ``background``; ``pip install`` and ``./dev``
  lines are validated, not run.
- Directives, ``<!-- doc-test: NAME ARGS -->`` just before a block: ``skip REASON`` (the
  only exemption; listed at the end of the run), ``file PATH``, ``copy PATH...``,
  ``setup CODE``, ``then CODE``, ``drain [APP]``, ``burst``, ``background [SECONDS] [until EXPR]``,
  ``exit N``, ``schedule``, ``excerpt-of PATH``, ``shape failure-record``, ``tree ROOT``,
  ``exceptions``, ``hook-order``, ``output-of COMMAND``, ``systemd``, ``signatures MODULE``.
  An unknown or dangling directive fails its page's ``:directives`` case.
- ``EXPECTED_TO_FAIL`` (below) names pages known to fail while they are rewritten
  (non-strict xfail; ``--runxfail`` shows the failures); the aim is an empty list.

Here: the parametrisation, the dispatch by language (:data:`HANDLERS`), and the
page-level cases (directive errors, the list of exemptions).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.docs.blocks import Block, pages, parse_page
from tests.docs.data_blocks import run_data, run_ini, run_text
from tests.docs.page import PageRun
from tests.docs.python_blocks import conclude, prepare, run_python
from tests.docs.shell import run_shell

pytestmark = pytest.mark.redis

HANDLERS: dict[str, Callable[[PageRun, Block], None]] = {
    "python": run_python,
    "py": run_python,
    "sh": run_shell,
    "bash": run_shell,
    "shell": run_shell,
    "console": run_shell,
    "yaml": run_data,
    "yml": run_data,
    "json": run_data,
    "toml": run_data,
    "ini": run_ini,
    "text": run_text,
}

#: pages whose blocks are known to fail, with why; the final version keeps this empty
EXPECTED_TO_FAIL: dict[str, str] = {
    "docs/cli.md": "being rewritten (C): the `pyresque info` sample is not what the command prints",
    "docs/scheduling.md": "being rewritten (D): `pyresque scheduler` needs a background directive",
    "docs/workers.md": "being rewritten (W): `pyresque worker` needs a burst or background directive",
}

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


def run_block(run: PageRun, block: Block) -> None:
    """Dispatch a block to the handler of its language; an exempted block is not run."""
    if block.directive("skip") is not None:
        return
    handler = HANDLERS.get(block.lang)
    if handler is None:
        what = f"language {block.lang!r}" if block.lang else "no language"
        raise AssertionError(
            f"{block.id}: {what}: the harness has no handler for it; use one of "
            f"{sorted(HANDLERS)} (see tests/docs/README.md)"
        )
    prepare(run, block)
    handler(run, block)
    conclude(run, block)


@pytest.mark.parametrize("case", CASES)
def test_block(case: tuple[str, int], doc_page: Callable[[str], PageRun]) -> None:
    """The block runs (or validates) in its page's context."""
    path, index = case
    block = PAGES[path].blocks[index]
    skip = block.directive("skip")
    if skip is not None and len(skip.args.split()) < 3:
        raise AssertionError(f"{block.id}: a skip must say why (three words at least): {skip.args!r}")
    run = doc_page(path)
    run.run(index, run_block)
    if index == len(PAGES[path].blocks) - 1:
        run.close_page()


@pytest.mark.parametrize("path", list(PAGES), ids=[f"{p}:directives" for p in PAGES])
def test_directives(path: str) -> None:
    """Every doc-test directive of the page is known and belongs to a block."""
    assert not PAGES[path].errors, "\n".join(PAGES[path].errors)


def test_exemptions_are_listed() -> None:
    """The exempted blocks, with their reasons (printed with -s / -rA; listed by conftest)."""
    skipped = exemptions()
    for block_id, reason in skipped:
        print(f"exempt: {block_id}: {reason}")
    assert all(reason.strip() for _, reason in skipped)


def exemptions() -> list[tuple[str, str]]:
    """Every block exempted by ``<!-- doc-test: skip REASON -->``."""
    found = []
    for page in PAGES.values():
        for block in page.blocks:
            skip = block.directive("skip")
            if skip is not None:
                found.append((block.id, skip.args))
    return found
