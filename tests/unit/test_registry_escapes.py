"""Allow-list escapes: a payload's class name reaches only what an allowed module defines.

Each fixture module is written to ``tmp_path`` under a fresh name and imported the way a
worker imports ``APP_INCLUDE``; nothing here runs the objects it resolves or refuses.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pyresque import JobNotRegistered, JobRegistry, UnknownJobClass

JOBS = """
    import builtins
    import os
    import subprocess
    from builtins import eval as evaluate
    from functools import partial
    from subprocess import call


    def job(*args):
        return list(args)


    def _private(*args):
        return list(args)


    class Base:
        class Inner:
            def perform(self):
                return "base"


    class Outer:
        Alias = subprocess.Popen
        Job = job

        class Inner:
            def perform(self, *args):
                return list(args)

        def method(self, *args):
            return list(args)

        @staticmethod
        def helper(*args):
            return list(args)


    class Child(Base):
        pass


    class Handler:
        def __call__(self, *args):
            return list(args)

        def run(self, *args):
            return list(args)


    handler = Handler()
    bound = lambda *args: list(args)  # noqa: E731
    part = partial(job, 1)
    Renamed = Outer.Inner
"""

PKG_INIT = """
    import os
    from .sub import SubJob, sub_job


    def job(*args):
        return list(args)
"""

PKG_SUB = """
    import os


    def sub_job(*args):
        return list(args)


    class SubJob:
        def perform(self, *args):
            return list(args)
"""


def _write(path: Path, source: str) -> None:
    path.write_text(textwrap.dedent(source))


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, ModuleType]]:
    """A plain module ``jobs`` and a package ``pkg`` (with ``pkg.sub`` and a broken
    ``pkg.broken``), importable under fresh names; removed from sys.modules after."""
    tag = uuid.uuid4().hex[:10]
    jobs_name, pkg_name = f"esc_jobs_{tag}", f"esc_pkg_{tag}"
    _write(tmp_path / f"{jobs_name}.py", JOBS)
    (tmp_path / pkg_name).mkdir()
    _write(tmp_path / pkg_name / "__init__.py", PKG_INIT)
    _write(tmp_path / pkg_name / "sub.py", PKG_SUB)
    _write(tmp_path / pkg_name / "broken.py", "raise RuntimeError('broken at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        yield importlib.import_module(jobs_name), importlib.import_module(pkg_name)
    finally:
        for name in list(sys.modules):
            if name.startswith((jobs_name, pkg_name)):
                del sys.modules[name]


def refused(reg: JobRegistry, name: str) -> str:
    """The message of the UnknownJobClass that resolving ``name`` raises."""
    with pytest.raises(UnknownJobClass) as info:
        found = reg.resolve(name)
        print(f"{name} resolved to {found!r}")  # shown only when the test fails
    return str(info.value)


def test_module_attributes_never_resolve(modules: tuple[ModuleType, ModuleType]) -> None:
    """`jobs.os.system` (jobs does `import os`) and deeper paths through modules are refused."""
    jobs, pkg = modules
    reg = JobRegistry(allow_modules=[jobs.__name__, pkg.__name__])
    for name in (
        f"{jobs.__name__}.os.system",
        f"{jobs.__name__}.os.path.join",
        f"{jobs.__name__}.subprocess.run",
        f"{jobs.__name__}.subprocess.Popen",
        f"{pkg.__name__}.os.system",
        f"{pkg.__name__}.sub.os.system",
    ):
        message = refused(reg, name)
        assert "is a module, not a class" in message
    assert "is a module" in refused(reg, f"{jobs.__name__}.os")
    assert "is a module" in refused(reg, f"{pkg.__name__}.sub")


def test_builtins_never_resolve(modules: tuple[ModuleType, ModuleType]) -> None:
    """Builtins are refused however they are reached, even with `builtins` allowed."""
    jobs, _ = modules
    reg = JobRegistry(allow_modules=[jobs.__name__])
    for name in ("print", "__builtins__.eval", "__builtins__.get", "builtins.eval", "evaluate"):
        refused(reg, f"{jobs.__name__}.{name}")
    assert "no job class registered" in refused(reg, "builtins.eval")
    assert "builtin" in refused(reg, f"{jobs.__name__}.evaluate")
    loose = JobRegistry(allow_modules=[jobs.__name__, "builtins"])
    for name in ("builtins.eval", "builtins.exec", "builtins.type", "builtins.object"):
        assert "builtins are never resolved" in refused(loose, name)


def test_underscore_and_dunder_names_are_refused(modules: tuple[ModuleType, ModuleType]) -> None:
    """No segment after the allowed prefix may start with '_' (dunder or private)."""
    jobs, _ = modules
    reg = JobRegistry(allow_modules=[jobs.__name__])
    for rest in (
        "_private",
        "__class__",
        "__builtins__",
        "__loader__.load_module",
        "__spec__.loader.exec_module",
        "Outer.__init__",
        "Outer.__class__",
        "Outer.Inner.__subclasses__",
    ):
        assert "names starting with '_'" in refused(reg, f"{jobs.__name__}.{rest}")


def test_relative_and_empty_segments_are_refused(
    modules: tuple[ModuleType, ModuleType], tmp_path: Path
) -> None:
    """Leading dots, empty segments, trailing dots and non-identifiers never resolve, and
    are refused before anything is imported."""
    jobs, pkg = modules
    fresh = f"esc_fresh_{uuid.uuid4().hex[:10]}"
    (tmp_path / fresh).mkdir()
    _write(tmp_path / fresh / "__init__.py", PKG_INIT)
    _write(tmp_path / fresh / "sub.py", PKG_SUB)
    reg = JobRegistry(allow_modules=[jobs.__name__, pkg.__name__, fresh])
    try:
        for name in (
            f".{jobs.__name__}.job",
            f"..{jobs.__name__}.job",
            f"{jobs.__name__}..job",
            f"{jobs.__name__}.job.",
            f"{jobs.__name__}.",
            f"{jobs.__name__}. job",
            f"{jobs.__name__}.job()",
            f"{pkg.__name__}..sub.sub_job",
            f"{pkg.__name__}.sub..sub_job",
            f"{pkg.__name__}.sub/sub_job",
            f"{fresh}..sub.sub_job",
            f"{fresh}.sub..sub_job",
            f"{fresh}..os.system",
        ):
            refused(reg, name)
        assert [m for m in sys.modules if m.startswith(fresh)] == []  # nothing was imported
        assert refused(reg, f"{fresh}..sub.sub_job").endswith("is not a dotted Python name")
    finally:
        for name in [m for m in sys.modules if m.startswith(fresh)]:
            del sys.modules[name]


def test_a_function_imported_from_another_module_is_refused(modules: tuple[ModuleType, ModuleType]) -> None:
    """`from subprocess import call` in jobs: `jobs.call` is subprocess's, not a job of jobs."""
    jobs, pkg = modules
    reg = JobRegistry(allow_modules=[jobs.__name__, pkg.__name__])
    message = refused(reg, f"{jobs.__name__}.call")
    assert "'subprocess.call', not defined under that name" in message
    refused(reg, f"{jobs.__name__}.Outer.Alias")  # subprocess.Popen as a class attribute
    refused(reg, f"{jobs.__name__}.Outer.Job")  # a module function aliased in a class
    refused(reg, f"{pkg.__name__}.sub_job")  # re-exported from pkg.sub: only its own name works
    refused(reg, f"{pkg.__name__}.SubJob")
    with pytest.raises(JobNotRegistered):
        reg.name_for(subprocess.call)
    with pytest.raises(JobNotRegistered):
        reg.name_for(os.system)


def test_instances_partials_lambdas_and_methods_are_refused(
    modules: tuple[ModuleType, ModuleType],
) -> None:
    """Only classes and module-level functions are jobs; a callable instance is not."""
    jobs, _ = modules
    reg = JobRegistry(allow_modules=[jobs.__name__])
    assert "a Handler object" in refused(reg, f"{jobs.__name__}.handler")
    assert "a partial object" in refused(reg, f"{jobs.__name__}.part")
    assert "<lambda>" in refused(reg, f"{jobs.__name__}.bound")
    assert "is a method" in refused(reg, f"{jobs.__name__}.Outer.method")
    assert "staticmethod" in refused(reg, f"{jobs.__name__}.Outer.helper")
    assert "is a method" in refused(reg, f"{jobs.__name__}.Outer.Inner.perform")
    assert "a Handler object, not a class" in refused(reg, f"{jobs.__name__}.handler.run")
    refused(reg, f"{jobs.__name__}.handler.__call__")


def test_a_nested_class_defined_in_the_module_resolves(modules: tuple[ModuleType, ModuleType]) -> None:
    """`jobs.Outer.Inner` resolves and round-trips; an alias or an inherited one does not."""
    jobs, _ = modules
    reg = JobRegistry(allow_modules=[jobs.__name__])
    assert reg.resolve(f"{jobs.__name__}.Outer.Inner") is jobs.Outer.Inner
    assert reg.resolve(f"{jobs.__name__}.Outer") is jobs.Outer
    assert reg.name_for(jobs.Outer.Inner) == f"{jobs.__name__}.Outer.Inner"
    assert "not defined under that name" in refused(reg, f"{jobs.__name__}.Renamed")
    assert "no job class registered" in refused(reg, f"{jobs.__name__}.Child.Inner")
    assert "a Handler object, not a class" in refused(reg, f"{jobs.__name__}.handler.Inner")


def test_a_registered_job_resolves_under_its_name_only(modules: tuple[ModuleType, ModuleType]) -> None:
    """Registered names resolve (even dotted, even without an allow-list); nothing reached
    through them or through the module does."""
    jobs, _ = modules
    reg = JobRegistry()
    reg.register(jobs.Outer, name="Image::Resize")
    reg.register(jobs.job)
    assert reg.resolve("Image::Resize") is jobs.Outer
    assert reg.resolve(f"{jobs.__name__}.job") is jobs.job
    assert reg.name_for(jobs.Outer) == "Image::Resize"
    for name in ("Image::Resize.Inner", f"{jobs.__name__}.Outer.Inner", f"{jobs.__name__}.os.system"):
        refused(reg, name)
    allowed = JobRegistry(allow_modules=[jobs.__name__])
    allowed.register(jobs.Handler, name=f"{jobs.__name__}.os.system")  # an explicit choice wins
    assert allowed.resolve(f"{jobs.__name__}.os.system") is jobs.Handler
    refused(allowed, f"{jobs.__name__}.os.popen")


def test_a_function_of_an_allowed_submodule_resolves(modules: tuple[ModuleType, ModuleType]) -> None:
    """`pkg.sub.sub_job` resolves with `pkg` or `pkg.sub` allowed; pkg's imports do not."""
    _, pkg = modules
    sub = importlib.import_module(f"{pkg.__name__}.sub")
    for allow in ([pkg.__name__], [f"{pkg.__name__}.sub"]):
        reg = JobRegistry(allow_modules=allow)
        assert reg.resolve(f"{pkg.__name__}.sub.sub_job") is sub.sub_job
        assert reg.resolve(f"{pkg.__name__}.sub.SubJob") is sub.SubJob
        assert reg.name_for(sub.sub_job) == f"{pkg.__name__}.sub.sub_job"
        refused(reg, f"{pkg.__name__}.sub.os.system")
        refused(reg, f"{pkg.__name__}.sub_job")
    assert "no job class registered" in refused(reg, f"{pkg.__name__}.job")  # pkg itself not allowed


def test_a_sys_modules_alias_is_not_a_submodule(
    modules: tuple[ModuleType, ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sys.modules['pkg.os'] = os` does not make `pkg.os.system` a job of pkg."""
    _, pkg = modules
    monkeypatch.setitem(sys.modules, f"{pkg.__name__}.os", os)
    reg = JobRegistry(allow_modules=[pkg.__name__])
    assert "is not the module of that name" in refused(reg, f"{pkg.__name__}.os.system")
    assert reg.resolve(f"{pkg.__name__}.sub.sub_job").__name__ == "sub_job"


def test_name_for_gives_only_names_a_worker_resolves(modules: tuple[ModuleType, ModuleType]) -> None:
    """The enqueue side agrees with the worker side: a name for an object, or a refusal."""
    jobs, pkg = modules
    reg = JobRegistry(allow_modules=[jobs.__name__, pkg.__name__])
    accepted: list[Any] = [jobs.job, jobs.Outer, jobs.Outer.Inner, pkg.job, pkg.SubJob]
    for obj in accepted:
        assert reg.resolve(reg.name_for(obj)) is obj
    for obj in (jobs.bound, jobs.Outer.method, jobs.Outer.helper, jobs.call, jobs.part, jobs.handler):
        with pytest.raises(JobNotRegistered):
            reg.name_for(obj)


def test_failures_are_short_and_never_other_exceptions(modules: tuple[ModuleType, ModuleType]) -> None:
    """A huge name gives a short message; an allowed module that fails to import is an
    UnknownJobClass (with the cause), not whatever it raised."""
    jobs, pkg = modules
    reg = JobRegistry(allow_modules=[jobs.__name__, pkg.__name__])
    huge = f"{jobs.__name__}." + ".".join(["a"] * 2000)
    assert len(refused(reg, huge)) < 300
    assert len(refused(reg, f"{jobs.__name__}.{'x' * 100_000}")) < 300
    with pytest.raises(UnknownJobClass) as info:
        reg.resolve(f"{pkg.__name__}.broken.job")
    assert "RuntimeError: broken at import" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)
