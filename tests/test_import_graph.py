"""The arrows point one way: nets, objectives, metrics and data know nothing of tasks or the cli,
and no zoo module imports itself back through others (module- and function-level imports alike)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "zoo"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """zoo modules ``path`` imports anywhere in its body (``from zoo.x import y`` counts ``zoo.x.y``
    when that is a module, else ``zoo.x``)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                       for alias in node.names]
        else:
            continue
        for target in targets:
            # the deepest zoo module named (importing zoo.a.b also runs zoo.a, but zoo/__init__ is lazy)
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.startswith("zoo") and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


@pytest.mark.parametrize("layer", ["zoo.nets", "zoo.objectives", "zoo.metrics", "zoo.data"])
def test_lower_layers_do_not_import_tasks_or_cli(layer):
    graph = _graph()
    bad = {name: sorted(t for t in targets if t.startswith(("zoo.tasks", "zoo.cli")))
           for name, targets in graph.items() if name == layer or name.startswith(layer + ".")}
    assert not {k: v for k, v in bad.items() if v}, bad


def test_no_import_cycle():
    graph = _graph()
    # the package's own __init__ only registers resolvers (its loaders import lazily, inside functions)
    graph = {k: {t for t in v if t != "zoo"} for k, v in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_graph_sees_function_level_imports():
    """The parser counts an import inside a function (the old cli -> metrics -> tasks -> cli circle hid there)."""
    graph = _graph()
    assert "zoo.evaluation" in graph["zoo.cli"]  # imported inside cli.evaluate
    assert "zoo.checkpoints" in graph["zoo.tasks.model_update"]


def test_import_zoo_is_cheap():
    import subprocess
    import sys

    code = "import sys, zoo; print(int('lightning' in sys.modules), int('zoo.tasks' in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "0"], out.stdout


def test_list_experiments_matches_conf():
    import zoo

    names = zoo.list_experiments()
    assert "gcn_cora" in names and names == sorted(p.stem for p in (SRC.parent / "conf" / "experiment").glob("*.yaml"))
