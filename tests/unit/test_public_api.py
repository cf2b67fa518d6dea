"""The public surface: a sorted __all__, one exception root, no import-time side effects."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pyresque
from pyresque.core import errors


def test_all_is_sorted_and_every_name_exists() -> None:
    """__all__ is sorted and each name is importable from the package."""
    assert list(pyresque.__all__) == sorted(pyresque.__all__)
    for name in pyresque.__all__:
        assert hasattr(pyresque, name), name


def test_every_error_has_the_one_root_and_is_drawn_in_the_tree() -> None:
    """Each exception class derives from PyresqueError (interrupts from BaseException on
    purpose) and appears in the tree of the module docstring."""
    doc = errors.__doc__ or ""
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__]
    assert len(classes) >= 20
    for cls in classes:
        assert cls.__name__ in doc, cls
        if issubclass(cls, errors.WorkerInterrupt):
            assert not issubclass(cls, Exception), cls
        else:
            assert issubclass(cls, errors.PyresqueError), cls


def test_every_public_error_is_exported() -> None:
    """Every exception of the errors module is reachable as pyresque.<Name>."""
    for name, cls in inspect.getmembers(errors, inspect.isclass):
        if cls.__module__ == errors.__name__:
            assert getattr(pyresque, name) is cls


def test_importing_the_package_connects_to_nothing_and_configures_no_logging() -> None:
    """A fresh interpreter importing pyresque opens no socket and adds no log handler."""
    code = (
        "import logging, socket\n"
        "opened = []\n"
        "orig = socket.socket.connect\n"
        "socket.socket.connect = lambda self, *a: opened.append(a) or orig(self, *a)\n"
        "import pyresque, pyresque.cli, pyresque.backends.fake\n"
        "app = pyresque.Resque('redis://127.0.0.1:1/0')\n"
        "assert not opened, opened\n"
        "assert not logging.getLogger().handlers\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr
