"""One page's run: its folder, its databases, its Python namespace, and running blocks in order.

A :class:`PageRun` is made the first time a block of the page is tested and closed after
its last block (or at the end of the session). :meth:`PageRun.run` runs every earlier
block that has not run yet, then the block asked for, so a single block can be selected
(``-k docs/quickstart.md:42``) and still sees what the page defined before it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import shutil
import sys
import tempfile
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis

from tests.docs.blocks import ROOT, Block, Page

#: ``redis://localhost:6379/N`` (and rediss://, user:pass@, 127.0.0.1)
_URL = re.compile(
    r"(?P<scheme>rediss?)://(?P<auth>[^@/\s'\"]*@)?(?:localhost|127\.0\.0\.1):6379(?:/(?P<db>\d+))?"
    r"(?P<query>\?[^\s'\"`]*)?"
)
#: php-resque's / Ruby's host forms: ``localhost:6379``, ``localhost:6379:2``
_HOST = re.compile(r"(?<![\w/@.:])(?:localhost|127\.0\.0\.1):6379(?::(?P<db>\d+))?(?![\d])")
#: ``REDIS_BACKEND_DB=N`` / ``--redis-db N``
_DBVAR = re.compile(r"(?P<lead>REDIS_BACKEND_DB=|--redis-db[ =])(?P<db>\d+)")
#: a python block starting with a ``# path/to/file.py`` comment is that file
FILE_COMMENT = re.compile(r"^#\s*(?P<path>[\w./-]+\.py)\s*$")


class DatabasePool:
    """Hands out databases of the session's redis-server; each is flushed when handed out.

    Database 0 is left to the other tests; the pages take 1-15 in turn, one page at a time,
    so a page always starts on an empty database that only it uses.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self._next = 0

    def take(self) -> int:
        db = 1 + self._next % 15
        self._next += 1
        client = redis.Redis(host="127.0.0.1", port=self.port, db=db)
        try:
            client.flushdb()
        finally:
            client.close()
        return db


class PageRun:
    """The state one page's blocks share."""

    def __init__(self, page: Page, pool: DatabasePool) -> None:
        self.page = page
        self.pool = pool
        self.port = pool.port
        self.dir = Path(tempfile.mkdtemp(prefix="pyresque-doc-"))
        self.dbs: dict[int, int] = {}
        self.module = types.ModuleType(_module_name(page.path))
        self.module.__file__ = str(self.dir / "__doc_page__.py")
        self.namespace: dict[str, Any] = self.module.__dict__
        self.done: dict[int, BaseException | None] = {}  # block index -> its error
        self.cleanups: list[Callable[[], None]] = []
        self.closed = False
        self._modules_before = set(sys.modules)
        sys.modules[self.module.__name__] = self.module
        sys.path.insert(0, str(self.dir))

    # -- the test server --------------------------------------------------------------------
    def db(self, written: int = 0) -> int:
        """The test database standing for the database the page writes (``/0`` ...)."""
        if written not in self.dbs:
            self.dbs[written] = self.pool.take()
        return self.dbs[written]

    def url(self, written: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{self.db(written)}"

    def client(self, written: int = 0) -> redis.Redis:
        """A redis-py client on the page's database (closed with the page)."""
        client = redis.Redis(host="127.0.0.1", port=self.port, db=self.db(written))
        self.cleanups.append(client.close)
        return client

    def rewrite(self, text: str) -> str:
        """The text with every ``localhost:6379`` pointed at the page's test databases."""

        def url(match: re.Match[str]) -> str:
            query = match.group("query") or ""
            in_query = re.search(r"(?<=[?&])db=(\d+)", query)
            db = self.db(int(in_query.group(1)) if in_query else int(match.group("db") or 0))
            query = re.sub(r"(?<=[?&])db=\d+", f"db={db}", query)
            return f"{match.group('scheme')}://{match.group('auth') or ''}127.0.0.1:{self.port}/{db}{query}"

        def host(match: re.Match[str]) -> str:
            return f"127.0.0.1:{self.port}:{self.db(int(match.group('db') or 0))}"

        def dbvar(match: re.Match[str]) -> str:
            return f"{match.group('lead')}{self.db(int(match.group('db')))}"

        return _DBVAR.sub(dbvar, _HOST.sub(host, _URL.sub(url, text)))

    # -- running ----------------------------------------------------------------------------
    def run(self, index: int, runner: Callable[[PageRun, Block], None]) -> None:
        """Run the earlier blocks not run yet, then block ``index``; raise its error."""
        for earlier in range(index):
            if earlier not in self.done:
                self._run_one(earlier, runner)
        # already run (a repeated selection): report the same
        error = self.done[index] if index in self.done else self._run_one(index, runner)
        if error is not None:
            failed = [self.page.blocks[i].id for i in range(index) if self.done.get(i) is not None]
            note = f"(an earlier block of this page failed first: {failed[0]})" if failed else ""
            if note and note not in getattr(error, "__notes__", []) and hasattr(error, "add_note"):
                error.add_note(note)  # Python 3.11+; 3.10 reports the error alone
            raise error

    def _run_one(self, index: int, runner: Callable[[PageRun, Block], None]) -> BaseException | None:
        error: BaseException | None = None
        try:
            with self.inside():
                runner(self, self.page.blocks[index])
        except Exception as exc:
            error = exc
        self.done[index] = error
        return error

    @contextlib.contextmanager
    def inside(self) -> Iterator[None]:
        """The page's folder as the working directory, for the time of one block."""
        before = os.getcwd()
        os.chdir(self.dir)
        importlib.invalidate_caches()
        try:
            yield
        finally:
            os.chdir(before)

    def write(self, relative: str, text: str) -> Path:
        """Write a file of the page (``file`` directive, ``# path.py`` blocks)."""
        target = (self.dir / relative).resolve()
        if not target.is_relative_to(self.dir.resolve()):
            raise AssertionError(f"file {relative!r} would be written outside the page's folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        importlib.invalidate_caches()
        return target

    def copy(self, relative: str) -> None:
        """Copy a file or folder of the repository into the page's folder (``copy``)."""
        source = ROOT / relative
        if not source.exists():
            raise AssertionError(f"{self.page.path}: copy {relative}: no such file in the repository")
        if source.is_dir():
            shutil.copytree(source, self.dir / source.name, dirs_exist_ok=True)
            copied = [p for p in (self.dir / source.name).rglob("*") if p.is_file()]
        else:
            shutil.copy2(source, self.dir / source.name)
            copied = [self.dir / source.name]
        for file in copied:  # the same rewrite as blocks: never the machine's Redis
            try:
                text = file.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if self.rewrite(text) != text:
                file.write_text(self.rewrite(text), encoding="utf-8")
        importlib.invalidate_caches()

    def import_file(self, relative: str) -> types.ModuleType:
        """Import a written ``.py`` file under its dotted name (``myapp/jobs.py``: myapp.jobs)."""
        name = relative.removesuffix(".py").replace("/", ".")
        for loaded in [m for m in sys.modules if m == name or name.startswith(m + ".")]:
            mod = sys.modules[loaded]
            if str(getattr(mod, "__file__", None) or "").startswith(str(self.dir)) or loaded == name:
                del sys.modules[loaded]
        return importlib.import_module(name)

    def close_page(self) -> None:
        """Close the page after its last block (see :meth:`close`)."""
        self.close()

    def close(self) -> None:
        """Stop what the page started, close its apps, forget its modules and folder."""
        if self.closed:
            return
        self.closed = True
        errors: list[str] = []
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(repr(exc))
        self.cleanups.clear()
        _close_apps(self.namespace)
        for name in set(sys.modules) - self._modules_before:
            mod = sys.modules.get(name)
            if not isinstance(mod, types.ModuleType) or getattr(mod, "__spec__", None) is None:
                sys.modules.pop(name, None)  # a stand-in a ``setup`` directive put there
                continue
            where = str(getattr(mod, "__file__", None) or "")
            paths = [str(p) for p in getattr(mod, "__path__", []) or []]
            if where.startswith(str(self.dir)) or any(p.startswith(str(self.dir)) for p in paths):
                _close_apps(vars(mod))
                del sys.modules[name]
        sys.modules.pop(self.module.__name__, None)
        with contextlib.suppress(ValueError):
            sys.path.remove(str(self.dir))
        shutil.rmtree(self.dir, ignore_errors=True)
        if errors:
            raise AssertionError(f"{self.page.path}: cleaning up failed: {errors}")


def _module_name(page: str) -> str:
    return "docpage_" + re.sub(r"\W", "_", page.removesuffix(".md"))


def _close_apps(namespace: dict[str, Any]) -> None:
    from pyresque import Resque

    for value in list(namespace.values()):
        if isinstance(value, Resque):
            with contextlib.suppress(Exception):
                value.close()
