"""The package's shape: no import cycles (function-level imports included) and the stage layering.

Every ``import`` statement anywhere in a module (top level, inside functions,
under ``TYPE_CHECKING``) is an edge from that module to the module it names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "unlearnkit"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The module an imported name refers to (``a.b.c`` -> ``a.b`` when ``c`` is not a module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, source: str | None = None) -> set[str]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                target = _resolve(name)
                if target is not None and target != module:
                    targets.add(target)
    return targets


GRAPH = {module: _imports(module) for module in MODULES}


def _cycle_from(start: str) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for target in GRAPH[node]:
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def test_the_graph_sees_function_level_imports() -> None:
    source = "def f():\n    from unlearnkit.experiment.runner import Runner\n    from . import units\n"
    assert _imports("unlearnkit.experiment.distributed", source) == {"unlearnkit.experiment.runner", "unlearnkit.experiment.units"}
    assert len(GRAPH) > 50


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_cycle(module: str) -> None:
    cycle = _cycle_from(module)
    assert cycle is None, " -> ".join(cycle or [])


def _reachable(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        for target in GRAPH[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


# A stage may use the stages before it, never those after it; `report` reads only the store.
_AFTER_MODELS = (
    "unlearnkit.methods", "unlearnkit.metrics", "unlearnkit.store", "unlearnkit.report", "unlearnkit.experiment", "unlearnkit.kinds"
)
FORBIDDEN = {
    "unlearnkit.data": _AFTER_MODELS,
    "unlearnkit.models": _AFTER_MODELS,
    "unlearnkit.methods": ("unlearnkit.metrics", "unlearnkit.store", "unlearnkit.report", "unlearnkit.experiment", "unlearnkit.kinds"),
    "unlearnkit.metrics": ("unlearnkit.methods", "unlearnkit.store", "unlearnkit.report", "unlearnkit.experiment", "unlearnkit.kinds"),
    "unlearnkit.store": ("unlearnkit.methods", "unlearnkit.report", "unlearnkit.experiment", "unlearnkit.kinds"),
    "unlearnkit.report": ("unlearnkit.methods", "unlearnkit.experiment", "unlearnkit.kinds"),
    "unlearnkit.kinds": ("unlearnkit.experiment", "unlearnkit.report", "unlearnkit.cli"),
}


# Pure formulas on tensors are shared: DLFD optimises a metric's own formula.
ALLOWED = {"unlearnkit.metrics.functional"}


@pytest.mark.parametrize("stage", sorted(FORBIDDEN))
def test_stages_never_import_later_stages(stage: str) -> None:
    members = [m for m in MODULES if m == stage or m.startswith(stage + ".")]
    offending = sorted(
        f"{member} -> {target}"
        for member in members
        for target in _reachable(member)
        if target not in ALLOWED and any(target == f or target.startswith(f + ".") for f in FORBIDDEN[stage])
    )
    assert not offending, "\n".join(offending)
