"""The path form of APP_INCLUDE imports a file under its real dotted name and never
shadows the standard library (issue 11, item 2)."""

from __future__ import annotations

import queue as stdlib_queue
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from pyresque.cli.common import load_include_module, make_app


@pytest.fixture
def clean_imports() -> Iterator[None]:
    """Put sys.path and sys.modules back as they were."""
    path = list(sys.path)
    modules = set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def _package(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    return folder


def test_a_file_in_a_package_keeps_its_dotted_name(tmp_path: Path, clean_imports: None) -> None:
    """`--app-include myapp/jobs.py` is `myapp.jobs`: the producer's job names resolve."""
    pkg = f"myapp_{uuid.uuid4().hex[:8]}"
    folder = _package(tmp_path, pkg)
    (folder / "jobs.py").write_text(
        "from pyresque import Resque\n"
        "app = Resque('fakeredis://include-path')\n"
        "@app.job\n"
        "def send_mail(to):\n"
        "    return to\n"
    )
    module = load_include_module(str(folder / "jobs.py"))
    assert module.__name__ == f"{pkg}.jobs"
    assert "jobs" not in sys.modules
    app = make_app(None, None, str(folder / "jobs.py"))
    assert app.registry.resolve(f"{pkg}.jobs.send_mail") is not None


def test_nested_packages_are_walked_up(tmp_path: Path, clean_imports: None) -> None:
    top = f"top_{uuid.uuid4().hex[:8]}"
    inner = _package(_package(tmp_path, top), "workers")
    (inner / "tasks.py").write_text("def register(app):\n    pass\n")
    module = load_include_module(str(inner / "tasks.py"))
    assert module.__name__ == f"{top}.workers.tasks"
    assert str(tmp_path) in sys.path
    assert str(inner) not in sys.path


def test_the_files_folder_never_goes_in_front_of_the_stdlib(tmp_path: Path, clean_imports: None) -> None:
    """A `queue.py` next to the include does not shadow the standard library's `queue`."""
    folder = tmp_path / f"proj_{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    (folder / "queue.py").write_text("SHADOW = True\n")
    name = f"jobs_{uuid.uuid4().hex[:8]}"
    (folder / f"{name}.py").write_text("import queue\nQUEUE_MODULE = queue\n")
    module = load_include_module(str(folder / f"{name}.py"))
    assert module.__name__ == name
    assert module.QUEUE_MODULE is stdlib_queue
    assert sys.path[0] != str(folder)
    assert sys.path[-1] == str(folder)


def test_a_file_named_like_a_stdlib_module_is_refused(tmp_path: Path, clean_imports: None) -> None:
    """`--app-include logging.py` would replace the standard `logging`: refused, clearly."""
    (tmp_path / "logging.py").write_text("SHADOW = True\n")
    with pytest.raises(click.ClickException, match="standard library module 'logging'"):
        load_include_module(str(tmp_path / "logging.py"))
    assert not hasattr(sys.modules["logging"], "SHADOW")
    assert str(tmp_path) not in sys.path


def test_a_package_named_like_a_stdlib_module_is_refused(tmp_path: Path, clean_imports: None) -> None:
    folder = _package(tmp_path, "email")
    (folder / "jobs.py").write_text("")
    with pytest.raises(click.ClickException, match="standard library module 'email'"):
        load_include_module(str(folder / "jobs.py"))


def test_a_name_taken_by_another_module_is_refused(tmp_path: Path, clean_imports: None) -> None:
    """`click.py` would be imported as the already-imported `click`: refused, not mixed up."""
    (tmp_path / "click.py").write_text("")
    with pytest.raises(click.ClickException, match="already"):
        load_include_module(str(tmp_path / "click.py"))


def test_importing_twice_gives_the_same_module(tmp_path: Path, clean_imports: None) -> None:
    pkg = f"again_{uuid.uuid4().hex[:8]}"
    folder = _package(tmp_path, pkg)
    (folder / "jobs.py").write_text("")
    first = load_include_module(str(folder / "jobs.py"))
    assert load_include_module(str(folder / "jobs.py")) is first
    assert sys.path.count(str(tmp_path)) == 1
