"""The package's import graph: no cycles, and each layer imports only what it may.

Every module of ``pyresque`` is parsed with ``ast`` (nothing is imported). Its edges
are the ``import``/``from ... import`` statements anywhere in it, at module level and
inside functions alike; a function-level import is still a dependency, it only runs
later. Left out: imports under ``if TYPE_CHECKING:`` (they never run), and plugins
loaded by name (``importlib.import_module``, entry points: not import statements).

``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to
``pkg`` itself. Importing ``a.b.c`` also runs the ``__init__`` of ``a.b``, so that is an
edge too, for every package except the root ``pyresque`` (the public facade, which
imports everything and is always initialised first) and the module's own packages.

The layers (see docs/architecture.md): the data model in ``pyresque.core`` (errors,
job, failure, status, reservation, delayed_item ...) at the bottom; ``backends``
on it; the app, the worker runtime (``core.worker``) and scheduling
(``core.scheduling``) on the backends' interfaces. Core never imports a concrete
backend: it gets one from ``pyresque.backends.create_backend``.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pyresque

ROOT = Path(pyresque.__file__).parent
#: Concrete backends, which core reaches only through the factories of ``pyresque.backends``.
CONCRETE = ("pyresque.backends.redis", "pyresque.backends.fake")
#: What the backends may not import: the layers built on top of them.
ABOVE_BACKENDS = (
    "pyresque.core.app",
    "pyresque.core.delayed",
    "pyresque.core.worker",
    "pyresque.core.scheduling",
)
#: The two runtimes: each is given an app and needs nothing of the other.
RUNTIMES = ("pyresque.core.worker", "pyresque.core.scheduling")


def _modules() -> dict[str, Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                skipped.update(id(n) for n in ast.walk(inner))
    return skipped


def _named(module: str, node: ast.Import | ast.ImportFrom, mods: dict[str, Path]) -> set[str]:
    """The modules an import statement names explicitly."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".")
            keep = len(base) - node.level + (1 if mods[module].name == "__init__.py" else 0)
            prefix = ".".join(base[:keep] + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in mods else prefix for a in node.names]
    found = set()
    for name in names:
        parts = name.split(".")
        # ``import a.b.c`` where only ``a.b`` is ours: the deepest module that exists
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in mods:
                found.add(".".join(parts[:end]))
                break
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the pyresque modules it imports at runtime (see the module docstring)."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _type_checking_nodes(tree)
        deps: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skipped:
                deps |= _named(module, node, mods)
        implicit = set()
        for dep in deps:
            parts = dep.split(".")
            for end in range(2, len(parts)):
                package = ".".join(parts[:end])
                if package in mods and not module.startswith(package + "."):
                    implicit.add(package)
        graph[module] = (deps | implicit) - {module}
    return graph


def _edges_into(graph: dict[str, set[str]], sources: tuple[str, ...], targets: tuple[str, ...]) -> list[str]:
    def under(name: str, prefixes: tuple[str, ...]) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    return sorted(
        f"{module} -> {dep}"
        for module, deps in graph.items()
        if under(module, sources)
        for dep in deps
        if under(dep, targets)
    )


def test_the_graph_sees_the_package() -> None:
    """The parser finds the modules and their imports (a guard against a vacuous pass)."""
    graph = import_graph()
    assert len(graph) > 50
    assert "pyresque.core.errors" in graph["pyresque.core.job"]
    assert "pyresque.backends.redis" in graph["pyresque.backends.fake"]


def test_no_import_cycles() -> None:
    """The module graph is acyclic, function-level imports included."""
    try:
        order = list(graphlib.TopologicalSorter(import_graph()).static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise AssertionError(f"import cycle: {cycle}") from None
    assert order


def test_core_never_imports_a_concrete_backend() -> None:
    """pyresque.core and its subpackages reach Redis/fakeredis only through backends' factories."""
    assert _edges_into(import_graph(), ("pyresque.core",), CONCRETE) == []


def test_backends_do_not_import_the_layers_above_them() -> None:
    """Backends use core's data model only, never the app, the worker or scheduling."""
    assert _edges_into(import_graph(), ("pyresque.backends",), ABOVE_BACKENDS) == []


def test_the_runtimes_stand_apart() -> None:
    """The worker runtime and scheduling do not import each other, nor the app (they
    are handed one: its type is imported for annotations only)."""
    graph = import_graph()
    worker, scheduling = RUNTIMES
    assert _edges_into(graph, (worker,), (scheduling, "pyresque.core.app")) == []
    assert _edges_into(graph, (scheduling,), (worker, "pyresque.core.app")) == []
