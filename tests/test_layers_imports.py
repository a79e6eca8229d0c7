"""Dependencies point one way (issue 12 item 4, decision 0011). Read from the source with ``ast``, no import:

- no import cycle between two regula modules;
- no import cycle between two top-level regula packages, counting the domain logic (services, repositories,
  models, rules): the adapters (``routes``, ``pages``, ``guards``, ``cli``, ``jobs``) and the composition
  roots (``web``, ``cli.main``, ``jobs.process``, ``routes``, ``wiring``, ``models``) sit above every domain and
  may import any of them;
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
ADAPTERS = {"routes", "pages", "guards", "cli", "import_routes", "allocate_cli", "jobs", "process"}
ROOTS = {"regula.routes", "regula.wiring", "regula.models", "regula.web", "regula.cli.main"}
# request-scoped helpers the domains' routes use: below the adapters, so counted as part of the graph
WEB_INFRA = {"regula.web.state", "regula.web.client", "regula.web.input_guard", "regula.web.ratelimit"}
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


def _is_adapter_or_root(module: str) -> bool:
    parts = module.split(".")
    if module in WEB_INFRA:
        return False
    if any(module == r or module.startswith(r + ".") for r in ROOTS):
        return True
    return len(parts) >= 3 and parts[-1] in ADAPTERS


def _package(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def test_no_import_cycle_between_modules() -> None:
    assert _cycles(_graph()) == []


def test_no_import_cycle_between_packages() -> None:
    packages: dict[str, set[str]] = defaultdict(set)
    why: dict[tuple[str, str], str] = {}
    for source, targets in _graph().items():
        if _is_adapter_or_root(source) or source == "regula":
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
