"""Documented import paths keep working after the move into sub-packages.

Each old path (named in docs/, README.md or the examples) must import and give the very
objects of the module that now holds them, so code written against it keeps running.
"""

from __future__ import annotations

import importlib

import pytest

#: old path -> (where it lives now, names users import from the old path)
MOVED = {
    "pyresque.core.scheduler": ("pyresque.core.scheduling.scheduler", ["Scheduler", "PollResult"]),
    "pyresque.core.schedule": (
        "pyresque.core.scheduling.schedule",
        ["Schedule", "load_schedule_file", "parse_duration", "parse_schedules"],
    ),
    "pyresque.core.failure_backends": (
        "pyresque.backends.failure",
        ["CallbackFailureStore", "Multiple", "make_failure_store", "FAILURE_BACKENDS", "writes_failed_list"],
    ),
}

#: documented paths that did not move: they must still import and hold these names
KEPT = {
    "pyresque.core.timefmt": ["parse_any"],
    "pyresque.core.errors": ["PyresqueError", "JobTimeoutError"],
    "pyresque.backends": ["Backend", "FailureStore", "create_backend"],
    "pyresque.backends.redis": ["RedisBackend"],
    "pyresque.backends.fake": ["FakeBackend"],
    "pyresque.backends.redis.spin": [],
    "pyresque.hooks.manager": ["HookManager"],
    "pyresque.hooks.reference": [],
    "pyresque.hooks.builtin.retry": ["RetryPlugin"],
    "pyresque.testing": ["inline", "drain"],
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_a_moved_module_is_still_importable_from_its_old_path(old: str) -> None:
    """``from <old path> import X`` gives the object the new module defines."""
    new, names = MOVED[old]
    old_module = importlib.import_module(old)
    new_module = importlib.import_module(new)
    for name in names:
        assert getattr(old_module, name) is getattr(new_module, name), f"{old}.{name}"


@pytest.mark.parametrize("path", sorted(KEPT))
def test_a_documented_path_still_imports(path: str) -> None:
    """Documented modules that stayed where they were still hold their names."""
    module = importlib.import_module(path)
    for name in KEPT[path]:
        assert hasattr(module, name), f"{path}.{name}"


def test_the_subpackages_export_their_main_classes() -> None:
    """``pyresque.core.worker`` (a module before, documented) and ``pyresque.core.scheduling``
    re-export what the top-level package exports."""
    import pyresque
    from pyresque.core import scheduling
    from pyresque.core.worker import Worker, WorkerOptions

    assert Worker is pyresque.Worker
    assert WorkerOptions is pyresque.WorkerOptions

    assert scheduling.Scheduler is pyresque.Scheduler
    assert scheduling.Schedule is pyresque.Schedule
