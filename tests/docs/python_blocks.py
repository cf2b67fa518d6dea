"""Running ```python blocks: in the page's namespace, in order, against the test server.

- The text is rewritten first (``localhost:6379`` -> the page's database, see
  :meth:`PageRun.rewrite`), then compiled with the page's path and true line numbers,
  so a traceback points into the markdown file.
- A block whose first line is ``# some/path.py`` (or that has ``<!-- doc-test: file
  some/path.py -->``) is that file: it is written into the page's folder, imported under
  its dotted name (``some.path``), and its names are copied into the page's namespace.
- ``pytest``: the block is a test module (its ``# test_x.py`` name, or ``test_doc_LINE.py``),
  written to the page's folder and run there by ``python -m pytest -W error``; it must pass.
- ``drain`` runs after the block (``copy`` and ``setup``, of any block, before it: :func:`prepare`).
- A snippet must never reach the machine's own Redis: while Python of a page runs, a
  redis-py connection to port 6379 raises (:func:`no_machine_redis`), and after each
  block an app left in the namespace that points there fails the block.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import inspect
import re
from collections.abc import Iterator
from typing import Any

from tests.docs.blocks import ROOT, Block
from tests.docs.page import FILE_COMMENT, PageRun


def run_python(run: PageRun, block: Block) -> None:
    """Run one python block of the page (see the module docstring)."""
    if block.directive("signatures") is not None:
        check_signature(block)
        return
    text = run.rewrite(block.text)
    path = _file_of(block)
    if block.directive("pytest") is not None:
        _run_pytest(run, block, text, path or f"test_doc_{block.line}.py")
    elif path is not None:
        run.write(path, text)
        module = run.import_file(path)
        run.namespace.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
    else:
        code = compile("\n" * block.line + text, str(ROOT / block.page), "exec")
        exec(code, run.namespace)
    _refuse_machine_redis(run, block)
    drain = block.directive("drain")
    if drain is not None:
        from pyresque.testing import drain as drain_app

        name = drain.args.split()[0] if drain.args else "app"
        if name not in run.namespace:
            raise AssertionError(f"{block.id}: drain {name}: no such name in the page")
        drain_app(run.namespace[name])


@contextlib.contextmanager
def no_machine_redis() -> Iterator[None]:
    """Refuse redis-py connections (sync and asyncio) to port 6379 for the time of the block."""
    import redis.asyncio.connection
    import redis.connection

    patched = []
    for cls in (redis.connection.Connection, redis.asyncio.connection.Connection):
        original = cls._connect

        def guarded(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            if int(getattr(self, "port", 0) or 0) == 6379:
                raise AssertionError(
                    "a doc snippet connects to port 6379, the machine's own Redis: write the URL as "
                    "redis://localhost:6379/N so the harness points it at the test server"
                )
            return __original(self, *args, **kwargs)

        patched.append((cls, cls.__dict__.get("_connect")))
        cls._connect = guarded  # type: ignore[method-assign]
    try:
        yield
    finally:
        for cls, own in patched:
            if own is None:
                del cls._connect
            else:
                cls._connect = own  # type: ignore[method-assign]


def prepare(run: PageRun, block: Block) -> None:
    """What a block of any language asks for first: ``copy`` the files, run ``setup``."""
    for copy in block.all("copy"):
        for path in copy.args.split():
            run.copy(path)
    for setup in block.all("setup"):
        code = compile("\n" * (setup.line - 1) + run.rewrite(setup.args), str(ROOT / block.page), "exec")
        exec(code, run.namespace)


def conclude(run: PageRun, block: Block) -> None:
    """After a block of any language: its ``then`` directives (checks of what it did)."""
    for then in block.all("then"):
        code = compile("\n" * (then.line - 1) + run.rewrite(then.args), str(ROOT / block.page), "exec")
        exec(code, run.namespace)


def _run_pytest(run: PageRun, block: Block, text: str, path: str) -> None:
    """A ``pytest`` block: a test module run by pytest in the page's folder; it must pass."""
    import subprocess
    import sys

    from tests.docs.shell import environment

    if not path.rsplit("/", 1)[-1].startswith("test_") and not path.endswith("conftest.py"):
        raise AssertionError(f"{block.id}: a pytest block's file must be named test_*.py: {path}")
    run.write(path, text)
    options = ["-q", "-p", "no:cacheprovider", "-W", "error"]
    if importlib.util.find_spec("pytest_asyncio") is not None:  # its "unset scope" warning
        options += ["-o", "asyncio_default_fixture_loop_scope=function"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *options, path],
        cwd=run.dir,
        env=environment(run),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{block.id}: pytest {path} failed:\n{proc.stdout}{proc.stderr}")


def _file_of(block: Block) -> str | None:
    directive = block.directive("file")
    if directive is not None:
        return directive.args.split()[0]
    first = block.text.split("\n", 1)[0]
    match = FILE_COMMENT.match(first)
    return match.group("path") if match else None


def _refuse_machine_redis(run: PageRun, block: Block) -> None:
    from pyresque import Resque

    for name, value in run.namespace.items():
        if isinstance(value, Resque):
            describe = getattr(value.backend, "describe", None)
            where = str(describe()) if callable(describe) else ""
            if re.search(r":6379(?:/|$)", where):
                raise AssertionError(
                    f"{block.id}: {name} uses {where}, the machine's own Redis; write the URL "
                    "as redis://localhost:6379/N so the harness points it at the test server"
                )


def check_signature(block: Block) -> None:
    """A block ``name(a: T, b: U) -> R`` names a function of the module with those parameters."""
    directive = block.directive("signatures")
    assert directive is not None
    module = importlib.import_module(directive.args.split()[0])
    line = block.text.strip()
    head = line.split(" (", 1)[0]  # "-> Any (firstresult)"
    tree = ast.parse(f"def {head}: ...")
    func = tree.body[0]
    assert isinstance(func, ast.FunctionDef)
    target = getattr(module, func.name, None)
    if target is None:
        raise AssertionError(f"{block.id}: {module.__name__} has no {func.name}")
    documented = [a.arg for a in func.args.args]
    actual = [p for p in inspect.signature(target).parameters if p != "self"]
    if documented != actual:
        raise AssertionError(f"{block.id}: {func.name}{tuple(documented)} but the spec takes {actual}")
