"""The package's layers: every import points down the stack, and no two modules import each other.

    core  <-  http  <-  oauth  <-  servers  <-  agents  <-  lab (the facade)  <-  client  <-  book  <-  cli

A module may import from its own layer and the layers below it, never above.
Imports inside functions count too: a function-level import is still an arrow,
and hiding a cycle in one is still a cycle.  CONTRIBUTING.md draws the picture.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "apisec_lab"

#: Layer of each top-level part of the package, lowest first.
LAYERS = {
    "core": 0,
    "http": 1,
    "oauth": 2,
    "servers": 3,
    "agents": 4,                  # the people's programs (a browser): HTTP clients of the servers; the facade builds them
    "lab": 5, "__init__": 5,      # the facade: apisec_lab.start() and the Lab object
    "client": 6,
    "book": 7,
    "__main__": 8,                # the command line sits on top of everything
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:                       # apisec_lab itself: its __init__
        return LAYERS["__init__"]
    return LAYERS[parts[1]]


def imports_of(module: str) -> set[str]:
    """The package's modules that *module* imports, anywhere in its code."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names]
        else:
            continue
        found.update(n for n in names if n == "apisec_lab" or n.startswith("apisec_lab."))
    found.discard(module)
    return {n if n in MODULES else n.rpartition(".")[0] for n in found}


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_part_of_the_package_has_a_layer():
    parts = {m.split(".")[1] if "." in m else "__init__" for m in MODULES}
    assert parts <= set(LAYERS), f"add {sorted(parts - set(LAYERS))} to LAYERS (and to CONTRIBUTING.md)"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_stack(module):
    upward = sorted(t for t in GRAPH[module] if layer_of(t) > layer_of(module))
    assert not upward, f"{module} (layer {layer_of(module)}) imports from a higher layer: {upward}"


def test_no_import_cycles():
    seen, stack, cycles = set(), [], []

    def visit(m):
        if m in stack:
            cycles.append(stack[stack.index(m):] + [m])
            return
        if m in seen:
            return
        seen.add(m)
        stack.append(m)
        for t in sorted(GRAPH[m]):
            visit(t)
        stack.pop()

    for m in sorted(GRAPH):
        visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_walker_sees_relative_and_function_level_imports():
    # A guard on the guard: the walker must find imports this package is known to make.
    assert "apisec_lab.servers.endpoints" in GRAPH["apisec_lab.servers.openapi"]
    assert "apisec_lab.lab" in GRAPH["apisec_lab.book.nb03"]            # AuthorizationFailed
    assert "apisec_lab.core.store" in GRAPH["apisec_lab.oauth.validator"]
