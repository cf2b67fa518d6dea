"""``APP_INCLUDE``: importing the user's module (a dotted name or a ``.py`` path) and
finding the app it defines. Start at :func:`load_include_module`; used by
:func:`pyresque.cli.common.make_app`.

``APP_INCLUDE`` rules (documented in docs/workers.md):

1. The module is imported (``myapp.jobs`` or ``path/to/jobs.py``). A file is imported
   under its real dotted name (the packages above it are walked up: ``myapp/jobs.py``
   is ``myapp.jobs``), the folder above its top package goes at the *end* of
   ``sys.path``, and a name that is a standard-library module is refused.
2. If it defines a module-level ``app`` or ``resque`` that is a :class:`Resque`, that app
   is used as is: its backend, namespace, serializer, jobs and plugins. Backend options
   given on the command line then override its backend only when given explicitly.
3. Otherwise an app is built from the backend options; if the module defines a
   callable ``register(app)`` it is called to register jobs and plugins; the module's
   own dotted names are allowed too (``myapp.jobs.Resize`` resolves without registering).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import click

from pyresque.core.app import Resque

__all__ = ["app_of", "import_app_include", "include_module_name", "load_include_module"]


def load_include_module(spec: str) -> ModuleType:
    """Import ``spec``: a dotted module name, or a path to a ``.py`` file.

    A file is imported under its real dotted name: the folders above it that are
    packages (hold an ``__init__.py``) are walked up, so ``myapp/jobs.py`` is
    ``myapp.jobs``, the name a producer importing ``myapp.jobs`` registers its jobs
    under. The folder above the top package is added at the *end* of ``sys.path``
    (nothing already importable is shadowed), and a file whose top-level name is a
    standard-library module (``queue.py``, ``logging/``) is refused.

    Raises:
        click.ClickException: the module cannot be found, would shadow the standard
            library or another module, or raised while importing.
    """
    spec = spec.strip()
    if not spec:
        raise click.ClickException("APP_INCLUDE is empty")
    try:
        if spec.endswith(".py") or os.sep in spec or "/" in spec:
            return _load_include_file(spec)
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        return importlib.import_module(spec)
    except click.ClickException:
        raise
    except Exception as exc:
        message = f"cannot import APP_INCLUDE {spec!r}: {type(exc).__name__}: {exc}"
        raise click.ClickException(message) from exc


def include_module_name(path: Path) -> tuple[str, Path]:
    """The dotted name a ``.py`` file is imported under, and the folder that must be on
    ``sys.path`` for it: the packages (folders with ``__init__.py``) above the file are
    walked up. ``/src/myapp/jobs.py`` with ``/src/myapp/__init__.py`` ->
    (``myapp.jobs``, ``/src``); a package's ``__init__.py`` is the package itself.
    """
    parts = [] if path.name == "__init__.py" else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.name.isidentifier() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts), folder


def _load_include_file(spec: str) -> ModuleType:
    path = Path(spec).expanduser().resolve()
    if not path.is_file():
        raise click.ClickException(f"APP_INCLUDE file not found: {spec}")
    name, root = include_module_name(path)
    if not name or not all(part.isidentifier() for part in name.split(".")):
        raise click.ClickException(
            f"APP_INCLUDE file {spec} cannot be imported: {name or path.name!r} is not a module name"
        )
    top = name.partition(".")[0]
    if top in sys.stdlib_module_names:
        raise click.ClickException(
            f"APP_INCLUDE file {spec} would be imported as {name!r}, shadowing the standard "
            f"library module {top!r}: rename it, or put it in a package"
        )
    loaded = sys.modules.get(name)
    if loaded is None or not _is_file_of(loaded, path):
        if not any(_same_folder(entry, root) for entry in sys.path):
            sys.path.append(str(root))
        loaded = importlib.import_module(name)
    if not _is_file_of(loaded, path):
        found = getattr(loaded, "__file__", None) or "a module without a file"
        raise click.ClickException(
            f"APP_INCLUDE file {spec} is the module {name!r}, but that name is already "
            f"{found}: rename the file or its package"
        )
    return loaded


def _is_file_of(module: ModuleType, path: Path) -> bool:
    file = getattr(module, "__file__", None)
    return file is not None and Path(file).resolve() == path


def _same_folder(entry: str, folder: Path) -> bool:
    try:
        return Path(entry or ".").resolve() == folder
    except (OSError, ValueError):
        return False


def import_app_include(spec: str) -> Resque | None:
    """Import the module and return the :class:`Resque` app it defines (``app`` or
    ``resque`` at module level), or ``None`` when it defines none."""
    module = load_include_module(spec)
    return app_of(module)


def app_of(module: ModuleType) -> Resque | None:
    """The module's ``app`` or ``resque`` when it is a :class:`Resque`, else ``None``."""
    for attr in ("app", "resque"):
        found = getattr(module, attr, None)
        if isinstance(found, Resque):
            return found
    return None
