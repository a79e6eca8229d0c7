"""Dependencies point one way (issue 12 item 4, decision 0011). Read from the source with ``ast``, no import:

- no import cycle between two regula modules;
- no import cycle between two top-level regula packages, counting every module of each package (services,
  repositories, models, rules and the adapters: ``routes``, ``cli``, ``jobs``): only the composition roots
  (``regula.web.app``, ``regula.routes``, ``regula.cli.main``, ``regula.jobs.process``, ``regula.wiring``) may
  import upward. The request plumbing the domains' routes share lives in ``regula.http``, the CLI plumbing in
  ``regula.cli_support``, the rate limiter in ``regula.core``, so no domain imports ``web`` or the CLI entry;
- no ``regula`` import inside a function, and no ``importlib`` import of a regula module, except in the
  composition roots (the app factory, the CLI entry);
- ``regula.core`` imports nothing of regula outside itself.

``lint-imports`` (contracts in pyproject.toml) checks the layers within each domain and the forbidden edges.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import regula

SRC = Path(regula.__file__).parent
# The only modules that may import upward: they assemble the app, the CLI, the jobs process and the reactions.
ROOTS = {"regula.web.app", "regula.routes", "regula.cli.main", "regula.jobs.process", "regula.wiring"}
# Composition roots may import inside a function: they build the app or the CLI from every domain.
FUNCTION_IMPORTS_ALLOWED = {"regula.cli.main", "regula.web.app"}


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return out


MODULES = _modules()


def _resolve(name: str) -> str:
    """The regula module an import names (``from regula.x import y`` may name the submodule ``regula.x.y``)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _top_level_imports(body: list[ast.stmt]) -> Iterator[str]:
    """The regula modules a module imports when it is imported (not inside functions, not for type checking)."""
    for node in body:
        if isinstance(node, ast.If) and _is_type_checking(node):
            continue
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("regula"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("regula"):
            yield from (_resolve(f"{node.module}.{a.name}") for a in node.names)
        elif isinstance(node, ast.If | ast.Try):
            yield from _top_level_imports(node.body)
            yield from _top_level_imports(node.orelse)
            for handler in getattr(node, "handlers", []):
                yield from _top_level_imports(handler.body)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, tree in MODULES.items():
        for target in _top_level_imports(tree.body):
            target = _resolve(target)
            if target != name and target in MODULES and not name.startswith(target + "."):
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(set(graph) | {w for ws in graph.values() for w in ws}):
        if v not in index:
            visit(v)
    return found


def _package(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def test_no_import_cycle_between_modules() -> None:
    assert _cycles(_graph()) == []


def test_no_import_cycle_between_packages() -> None:
    packages: dict[str, set[str]] = defaultdict(set)
    why: dict[tuple[str, str], str] = {}
    for source, targets in _graph().items():
        if source in ROOTS or source == "regula":
            continue
        for target in targets:
            a, b = _package(source), _package(target)
            if a != b and target != "regula":
                packages[a].add(b)
                why.setdefault((a, b), f"{source} -> {target}")
    cycles = _cycles(packages)
    edges = [why[a, b] for c in cycles for a in c for b in c if (a, b) in why]
    assert cycles == [], edges


def test_packages_graph_sees_the_domains() -> None:
    """The check above must look at real edges: allocation's logic does depend on the waitlist."""
    graph = _graph()
    assert "regula.waitlist.service" in graph["regula.allocation.backfill"]
    assert _cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]
    # adapters count too: a domain's routes import the shared request plumbing, not regula.web
    assert "regula.http.input_guard" in graph["regula.waitlist.routes"]
    assert not any(t.startswith(("regula.web", "regula.cli.main")) for t in graph["regula.waitlist.routes"])


def test_no_regula_import_inside_functions_outside_the_composition_roots() -> None:
    found = []
    for name, tree in MODULES.items():
        if name in FUNCTION_IMPORTS_ALLOWED:
            continue
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("regula"):
                    found.append(f"{name}:{node.lineno} from {node.module}")
                elif isinstance(node, ast.Import) and any(a.name.startswith("regula") for a in node.names):
                    found.append(f"{name}:{node.lineno} import")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func).endswith("import_module")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and str(node.args[0].value).startswith("regula")
            ):
                found.append(f"{name}:{node.lineno} importlib {node.args[0].value}")
    assert found == []


def test_core_imports_nothing_of_regula_outside_core() -> None:
    outside = {
        f"{name} -> {node.module}"
        for name, tree in MODULES.items()
        if name.startswith("regula.core")
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("regula")
        and not (node.module or "").startswith("regula.core")
    }
    assert outside == set()
