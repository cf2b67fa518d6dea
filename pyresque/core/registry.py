"""Job registry: Resque class-name strings <-> Python classes and functions.

A payload names its job by a string, and payloads are attacker-controlled. A name
resolves to one of two things only:

1. a callable registered with the app (``@app.job``, ``registry.register``), under
   exactly the name it was registered with;
2. a class, or a module-level function, *defined* in an allow-listed module and named
   by its canonical ``module.QualName``: ``myapp.jobs.Resize``,
   ``myapp.jobs.Outer.Inner`` (a class nested in a class defined there), or
   ``myapp.jobs.tasks.send`` (a function of the real submodule ``myapp.jobs.tasks``).

Everything else is refused with :class:`~pyresque.core.errors.UnknownJobClass`:
modules (``jobs.os.system`` when ``jobs`` does ``import os``), builtins, names
imported or re-exported into the module (their ``__module__``/``__qualname__`` say
where they were defined, and that must be the name the payload gave), instances
(callable or not), ``functools.partial`` objects, lambdas or aliases bound to a
name, methods, inherited nested classes, any segment after the allowed prefix that
starts with ``_`` (dunder or private), empty or non-identifier segments (relative
names), and a ``sys.modules`` entry whose module has another name. Lookups read
``__dict__`` directly, so no property, descriptor or module ``__getattr__`` runs.
Only modules under the allowed prefix are ever imported, one package level at a time.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable, Iterable
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import Any, TypeVar, overload

from pyresque.core.errors import ConfigurationError, JobNotRegistered, UnknownJobClass

__all__ = ["JOB_HOOK_PREFIXES", "JobRegistry", "async_refusal", "default_name"]

T = TypeVar("T")

#: Longest part of a payload's class name quoted in an error message.
_SHOWN = 120


#: The hook-name prefixes of a job class (Ruby Resque's per-job hooks; they run in
#: ``pyresque.hooks.builtin.jobclass``, which imports this tuple).
JOB_HOOK_PREFIXES = (
    "before_perform",
    "around_perform",
    "after_perform",
    "on_failure",
    "before_enqueue",
    "after_enqueue",
    "before_dequeue",
    "after_dequeue",
    "after_schedule",
    "before_delayed_enqueue",
)
#: A job class's own steps (``setUp``/``tearDown``: php-resque's spelling).
_STEPS = ("perform", "set_up", "setUp", "tear_down", "tearDown")


def async_refusal(obj: Any) -> str | None:
    """Why ``obj`` cannot run as a job because of ``async``, or ``None`` when it can.

    ``async def`` functions and job classes whose steps (``perform``, ``set_up``,
    ``tear_down``) are ``async def`` run on an event loop. What cannot run is named:
    an async generator as the job or one of its steps (it yields values, it is never
    "done"), and an async per-job class hook (``before_perform_*`` and the others run
    synchronously around the job, so an ``async def`` hook would never be awaited).
    """
    if not isinstance(obj, type):
        if inspect.isasyncgenfunction(obj):
            return f"{obj!r} is an async generator: a job must be a function or class that returns"
        return None
    for name in _STEPS:
        if inspect.isasyncgenfunction(getattr(obj, name, None)):
            return f"{obj.__qualname__}.{name} is an async generator: make it an async def that returns"
    for name in dir(obj):
        if name.startswith(JOB_HOOK_PREFIXES):
            hook = getattr(obj, name, None)
            if inspect.iscoroutinefunction(hook) or inspect.isasyncgenfunction(hook):
                return (
                    f"{obj.__qualname__}.{name} is async, but per-job class hooks run synchronously "
                    "around the job (it would never be awaited): make it a plain function (the job's "
                    "perform, set_up and tear_down may be async def)"
                )
    return None


def default_name(obj: Any) -> str:
    """The name a job gets when registered without one: ``module.QualName``."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or "<locals>" in qualname:
        raise ConfigurationError(f"{obj!r} has no importable name; register it with name=...")
    return f"{module}.{qualname}"


def _shown(name: str) -> str:
    """``name`` quoted for a message, cut short when a payload sent a huge one."""
    return repr(name) if len(name) <= _SHOWN else repr(name[:_SHOWN]) + "..."


def _kind(obj: Any) -> str:
    """What ``obj`` is, in a few words, for a refusal message."""
    if isinstance(obj, ModuleType):
        return "a module"
    if isinstance(obj, BuiltinFunctionType):
        return "a builtin"
    if isinstance(obj, FunctionType):
        return "a function"
    if isinstance(obj, MethodType):
        return "a bound method"
    if isinstance(obj, type):
        return "a class"
    return f"a {type(obj).__name__} object"


class JobRegistry:
    """Maps Resque class names to Python callables.

    Args:
        allow_modules: module prefixes (``"myapp.jobs"``) whose classes and functions
            may be resolved by their dotted name without registering each one (see
            the module docstring for exactly what resolves).
    """

    def __init__(self, allow_modules: Iterable[str] = ()) -> None:
        self._by_name: dict[str, Any] = {}
        self._by_obj: dict[int, str] = {}
        self._resolved: dict[str, Any] = {}  # allow-listed names found once
        self._allow = tuple(m.rstrip(".") for m in allow_modules if m.strip("."))
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

        ``async def`` jobs (functions, or classes with async ``perform``/``set_up``/
        ``tear_down``) are welcome.

        Raises:
            ConfigurationError: the name is taken by another callable, ``obj`` is
                not callable, or it is async in a way that cannot run
                (:func:`async_refusal`).
        """
        if obj is None:
            return lambda target: self.register(target, name=name)
        if not callable(obj):
            raise ConfigurationError(f"a job must be a class or a function, not {obj!r}")
        refusal = async_refusal(obj)
        if refusal is not None:
            raise ConfigurationError(refusal)
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

        An unregistered callable gets its ``module.QualName`` only when a worker with
        this allow-list would resolve that name back to ``obj``.

        Raises:
            JobNotRegistered: ``obj`` is neither registered nor resolvable through
                the allow-list.
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
        if self._prefix_of(dotted) is None:
            raise JobNotRegistered(
                f"{dotted} is not registered: use @app.job or allow its module (allow_modules=...)"
            )
        if self._resolved.get(dotted) is obj:
            return dotted
        try:
            found = self._lookup(dotted)
        except UnknownJobClass as exc:
            raise JobNotRegistered(f"{exc}; register it with @app.job") from exc
        if found is not obj:
            raise JobNotRegistered(f"{dotted} names another object; register it with @app.job")
        with self._lock:
            self._resolved.setdefault(dotted, obj)
        return dotted

    def resolve(self, name: str) -> Any:
        """The callable registered (or allow-listed) under ``name``.

        Raises:
            UnknownJobClass: nothing is registered under ``name`` and it is not the
                canonical name of a class or module-level function defined in an
                allowed module.
        """
        found = self._by_name.get(name)
        if found is not None:
            return found
        found = self._resolved.get(name)
        if found is not None:
            return found
        target = self._lookup(name)
        with self._lock:
            self._resolved.setdefault(name, target)
        return target

    # allow-list resolution ------------------------------------------------------------
    def _prefix_of(self, dotted: str) -> str | None:
        """The longest allowed prefix ``dotted`` lies strictly under, if any."""
        best: str | None = None
        for prefix in self._allow:
            if dotted.startswith(prefix + ".") and (best is None or len(prefix) > len(best)):
                best = prefix
        return best

    def _lookup(self, name: str) -> Any:
        """The class or function ``name`` designates under the allow-list (uncached)."""
        prefix = self._prefix_of(name)
        if prefix is None:
            raise UnknownJobClass(f"no job class registered as {_shown(name)}")
        rest = name[len(prefix) + 1 :].split(".")
        if not all(part.isidentifier() for part in rest):
            raise UnknownJobClass(f"{_shown(name)} is not a dotted Python name")
        if any(part.startswith("_") for part in rest):
            raise UnknownJobClass(f"{_shown(name)}: names starting with '_' are never resolved")
        module = _import(prefix)
        depth = 0  # how many of ``rest`` are (sub)modules
        while depth < len(rest) - 1:
            sub = _submodule(f"{module.__name__}.{rest[depth]}")
            if sub is None:
                break
            module, depth = sub, depth + 1
        if module.__name__ == "builtins":
            raise UnknownJobClass(f"{_shown(name)}: builtins are never resolved")
        path = rest[depth:]
        target: Any = module
        for step, attr in enumerate(path):
            if step and not isinstance(target, type):
                where = ".".join([module.__name__, *path[:step]])
                raise UnknownJobClass(f"{_shown(name)}: {where} is {_kind(target)}, not a class")
            space = vars(target)
            if attr not in space:
                raise UnknownJobClass(f"no job class registered as {_shown(name)}")
            target = space[attr]
        return _defined_job(name, target, module.__name__, ".".join(path))


def _import(module_name: str) -> ModuleType:
    """Import an allowed module, checking ``sys.modules`` gave the module of that name."""
    try:
        found: object = importlib.import_module(module_name)
    except Exception as exc:
        message = f"cannot import allowed module {_shown(module_name)}: {type(exc).__name__}: {exc}"
        raise UnknownJobClass(message) from exc
    spec = getattr(found, "__spec__", None)
    if (
        not isinstance(found, ModuleType)
        or found.__name__ != module_name
        or getattr(spec, "name", None) != module_name
    ):
        raise UnknownJobClass(f"sys.modules[{_shown(module_name)}] is not the module of that name")
    return found


def _submodule(module_name: str) -> ModuleType | None:
    """The submodule ``module_name``, or ``None`` when there is no such module (the name
    goes on as an attribute path). One that exists but fails to import is an error."""
    try:
        return _import(module_name)
    except UnknownJobClass as exc:
        missing = exc.__cause__
        if isinstance(missing, ModuleNotFoundError) and missing.name == module_name:
            return None
        raise


def _defined_job(name: str, target: Any, module_name: str, qualname: str) -> Any:
    """``target`` if it is a class, or a module-level function, defined at
    ``module_name.qualname``; else refuse."""
    if not isinstance(target, type | FunctionType):
        raise UnknownJobClass(f"{_shown(name)} is {_kind(target)}, not a job class or function")
    defined_in = getattr(target, "__module__", None)
    defined_as = getattr(target, "__qualname__", None)
    if defined_in != module_name or defined_as != qualname:
        defined = f"{defined_in}.{defined_as}"
        raise UnknownJobClass(f"{_shown(name)} is {_shown(defined)}, not defined under that name")
    if isinstance(target, FunctionType) and "." in qualname:
        raise UnknownJobClass(f"{_shown(name)} is a method; only classes and module functions run")
    refusal = async_refusal(target)
    if refusal is not None:
        raise UnknownJobClass(f"{_shown(name)} cannot run: {refusal}")
    return target
