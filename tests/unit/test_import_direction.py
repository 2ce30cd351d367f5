"""Imports in src/ point one way and form no cycle (docs/architecture.md, "Layers").

``cli -> eval | data | view -> agent | gateway | probe -> backends | tools | store -> wire -> transcript``,
with the small leaf modules (``transcript``, ``paths``, ``config``, ``serving``) at the bottom and ``convert`` beside
``wire``. Every import counts, also one inside a function or under ``TYPE_CHECKING``: a cycle that only
type checkers see is still two modules that cannot be understood apart.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

LAYERS: dict[str, int] = {
    "interleaf": 0,
    "interleaf.transcript": 0,
    "interleaf.paths": 0,
    "interleaf.config": 0,
    "interleaf.serving": 0,
    "interleaf.wire": 1,
    "interleaf.convert": 1,
    "interleaf.backends": 2,
    "interleaf.tools": 2,
    "interleaf.store": 2,
    "interleaf.agent": 3,
    "interleaf.gateway": 3,
    "interleaf.probe": 3,
    "interleaf.eval": 4,
    "interleaf.data": 4,
    "interleaf.view": 4,
    "interleaf.cli": 5,
    # `python -m interleaf` is the command line by another name.
    "interleaf.__main__": 5,
}


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in (SRC / "interleaf").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The interleaf modules ``name`` imports (``from pkg import sub`` is an import of ``pkg.sub``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target.startswith("interleaf") and target != name:
                found.add(target)
    return found


def _layer(module: str) -> int:
    while module not in LAYERS:
        module = module.rpartition(".")[0]
    return LAYERS[module]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_every_module_has_a_layer() -> None:
    assert all(_layer(name) >= 0 for name in _modules())


def test_imports_never_point_up() -> None:
    upward = sorted(
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in _graph().items()
        for target in targets
        if _layer(target) > _layer(module)
    )
    assert upward == []


def test_no_import_cycles() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert cycles == []
