"""Every fenced code block of README.md and docs/*.md is a test case, run or validated.

The conventions (tests/docs/README.md has them with examples):

- One case per block, id ``docs/page.md:LINE`` (the opening fence). Run one page with
  ``.venv/bin/python -m pytest tests/docs -k workers.md``; selecting one block runs the
  earlier blocks of its page first.
- By language: ``python``/``py`` run in order in one namespace per page, in the page's
  temporary folder; ``sh``/``bash``/``shell`` commands run with ``bash -c``; ``console``
  runs ``$ `` lines and compares the lines under them (``...`` elides); ``yaml``/``json``/
  ``toml`` are parsed (a schedule is loaded by ``load_schedule_file``); ``ini`` is parsed
  (a systemd unit is checked); ``text`` must say what it is; ``js`` is syntax-checked by
  node. Any other language, or none, FAILS.
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
  ``setup CODE``, ``then CODE``, ``drain [APP]``, ``pytest``, ``burst``,
  ``background [SECONDS] [until EXPR]``,
  ``exit N``, ``schedule``, ``excerpt-of PATH``, ``shape failure-record``, ``tree ROOT``,
  ``exceptions``, ``hook-order``, ``output-of COMMAND``, ``systemd``, ``signatures MODULE``.
  An unknown or dangling directive fails its page's ``:directives`` case.
- A snippet never reaches the machine's Redis: redis-py connections to port 6379 raise
  while a page's Python runs. Each shell command is its own ``bash -c`` in the page's
  folder (venv first on PATH, REDIS_URL set, no cd/export carry-over).
- ``EXPECTED_TO_FAIL`` (in test_docs.py) names pages known to fail while they are rewritten
  (non-strict xfail; ``--runxfail`` shows the failures); the aim is an empty list.

Here: the dispatch by language (:data:`HANDLERS`, :func:`run_block`) and the list of
exemptions; ``test_docs.py`` makes the cases, ``test_harness.py`` checks the harness itself.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.docs.blocks import Block, Page
from tests.docs.data_blocks import run_data, run_ini, run_javascript, run_text
from tests.docs.page import PageRun
from tests.docs.python_blocks import conclude, no_machine_redis, prepare, run_python
from tests.docs.shell import run_shell

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
    "js": run_javascript,
    "javascript": run_javascript,
}


def run_block(run: PageRun, block: Block) -> None:
    """Run or validate one block: ``copy``/``setup``, its language's handler, ``then``.

    An exempted block (``skip REASON``) is not run; a skip without a reason fails.
    """
    skip = block.directive("skip")
    if skip is not None:
        if len(skip.args.split()) < 3:
            raise AssertionError(f"{block.id}: a skip must say why (three words at least): {skip.args!r}")
        return
    handler = HANDLERS.get(block.lang)
    if handler is None:
        what = f"language {block.lang!r}" if block.lang else "no language"
        raise AssertionError(
            f"{block.id}: {what}: the harness has no handler for it; use one of "
            f"{sorted(HANDLERS)} (see tests/docs/README.md)"
        )
    with no_machine_redis():
        prepare(run, block)
        handler(run, block)
        conclude(run, block)


def exemptions(pages: list[Page]) -> list[tuple[str, str]]:
    """Every block exempted by ``<!-- doc-test: skip REASON -->``, with its reason."""
    return [(b.id, skip.args) for page in pages for b in page.blocks if (skip := b.directive("skip"))]
