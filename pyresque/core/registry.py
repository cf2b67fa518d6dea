"""Job registry: Resque class-name strings <-> Python classes and functions.

A payload names its job by a string. Workers run only what a registry names
explicitly, or what lives in a module under an allow-listed prefix; they never
import whatever string a payload carries.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from pyresque.core.errors import ConfigurationError, JobNotRegistered, UnknownJobClass

__all__ = ["JobRegistry", "default_name"]

T = TypeVar("T")


def default_name(obj: Any) -> str:
    """The name a job gets when registered without one: ``module.QualName``."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or "<locals>" in qualname:
        raise ConfigurationError(f"{obj!r} has no importable name; register it with name=...")
    return f"{module}.{qualname}"


class JobRegistry:
    """Maps Resque class names to Python callables.

    Args:
        allow_modules: module prefixes (``"myapp.jobs"``) whose classes and functions
            may be resolved by their dotted name without registering each one.
    """

    def __init__(self, allow_modules: Iterable[str] = ()) -> None:
        self._by_name: dict[str, Any] = {}
        self._by_obj: dict[int, str] = {}
        self._allow = tuple(m.rstrip(".") for m in allow_modules)
        self._lock = threading.Lock()

    @property
    def allow_modules(self) -> tuple[str, ...]:
        """The allow-listed module prefixes."""
        return self._allow

    @overload
    def register(self, obj: T, *, name: str | None = None) -> T: ...

    @overload
    def register(self, obj: None = None, *, name: str | None = None) -> Callable[[T], T]: ...

    def register(self, obj: Any = None, *, name: str | None = None) -> Any:
        """Register a job class or function, directly or as a decorator.

        ``registry.register(Resize)``, ``registry.register(Resize, name="Image::Resize")``,
        or ``@registry.register(name="My_Job")``.

        Raises:
            ConfigurationError: the name is taken by another callable, or ``obj`` is
                not callable.
        """
        if obj is None:
            return lambda target: self.register(target, name=name)
        if not callable(obj):
            raise ConfigurationError(f"a job must be a class or a function, not {obj!r}")
        job_name = name or default_name(obj)
        if not job_name:
            raise ConfigurationError("a job name cannot be empty")
        with self._lock:
            existing = self._by_name.get(job_name)
            if existing is not None and existing is not obj:
                raise ConfigurationError(f"job name {job_name!r} is already registered to {existing!r}")
            self._by_name[job_name] = obj
            self._by_obj.setdefault(id(obj), job_name)
        return obj

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._by_name)

    def name_for(self, obj: Any) -> str:
        """The Resque class string for ``obj`` (a registered callable or a string).

        Raises:
            JobNotRegistered: ``obj`` is neither registered nor in an allowed module.
        """
        if isinstance(obj, str):
            if not obj:
                raise JobNotRegistered("a job class name cannot be empty")
            return obj
        name = self._by_obj.get(id(obj))
        if name is not None and self._by_name.get(name) is obj:
            return name
        try:
            dotted = default_name(obj)
        except ConfigurationError as exc:
            raise JobNotRegistered(str(exc)) from exc
        if self._allowed(dotted):
            return dotted
        raise JobNotRegistered(
            f"{dotted} is not registered: use @app.job or allow its module (allow_modules=...)"
        )

    def _allowed(self, dotted: str) -> bool:
        return any(dotted == p or dotted.startswith(p + ".") for p in self._allow)

    def resolve(self, name: str) -> Any:
        """The callable registered (or allow-listed) under ``name``.

        Raises:
            UnknownJobClass: nothing is registered under ``name`` and it is not a
                dotted name inside an allowed module.
        """
        found = self._by_name.get(name)
        if found is not None:
            return found
        if self._allowed(name):
            target = self._import(name)
            if target is not None:
                with self._lock:
                    self._by_name.setdefault(name, target)
                return target
        raise UnknownJobClass(f"no job class registered as {name!r}")

    def _import(self, dotted: str) -> Any:
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module_name = ".".join(parts[:cut])
            if not self._allowed(module_name) and not any(
                p.startswith(module_name + ".") or p == module_name for p in self._allow
            ):
                continue
            try:
                target: Any = importlib.import_module(module_name)
            except ImportError:
                continue
            try:
                for attr in parts[cut:]:
                    target = getattr(target, attr)
            except AttributeError:
                return None
            return target if callable(target) else None
        return None
