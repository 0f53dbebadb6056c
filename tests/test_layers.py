"""The package's layers, checked from the source: imports point one way, and no modules import each other in a circle.

Every import counts (module level and inside functions) except those under
``if TYPE_CHECKING:``, which only name types for annotations.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "agentflux"

# What each package may import, besides itself (docs/architecture.md, "Layers"). Bottom to top.
ALLOWED: dict[str, set[str]] = {
    "contract": set(),
    "local": {"contract"},
    "transport": {"contract", "local"},
    "ops": {"contract", "transport"},
    "streams": {"contract", "local", "transport", "ops"},
    "runtime": {"contract", "transport", "ops"},
    "client": {"contract", "transport", "runtime"},
    "a2a": {"contract", "transport", "ops", "runtime", "client"},
    "mcp": {"contract", "transport", "ops", "runtime", "client"},
    "testing": {"contract", "transport", "ops", "runtime"},
    "cli": {"contract", "local", "transport", "ops", "streams", "runtime", "client", "a2a", "mcp"},
    "__init__": {"contract", "transport", "runtime", "client"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def runtime_imports(tree: ast.AST) -> Iterator[str]:
    """Names of the agentflux modules ``tree`` imports, skipping ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (name for child in node.orelse for name in runtime_imports(ast.Module([child], [])))
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("agentflux"):
            yield from (f"{node.module}.{alias.name}" for alias in node.names)  # a name, or a submodule
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("agentflux"))
        else:
            yield from runtime_imports(node)


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in runtime_imports(ast.parse(path.read_text())):
            while imported not in modules and "." in imported:  # `from agentflux.x import y` where y is a name
                imported = imported.rsplit(".", 1)[0]
            if imported != name:
                targets.add(imported)
        edges[name] = targets
    return edges


def test_imports_point_down_the_layers() -> None:
    wrong = [
        f"{source} imports {target}"
        for source, targets in graph().items()
        for target in targets
        if package_of(target) != package_of(source) and package_of(target) not in ALLOWED[package_of(source)]
    ]
    assert not wrong, wrong


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("package", sorted(p for p in ALLOWED if p != "__init__"))
def test_no_import_cycle_inside(package: str) -> None:
    edges = graph()
    inside = {
        source: {t for t in targets if package_of(t) == package}
        for source, targets in edges.items()
        if package_of(source) == package
    }
    assert cycles(inside) == []


# Inside streams/: what a job is (and its in-memory run), and the engines that run it.
STREAM_DEFINITION = {"aggregates", "definition", "filters", "job", "reference", "results", "schema", "windows"}
STREAM_ENGINES = {
    "decoding", "embedded", "engines", "flink_avro", "flink_checks", "flink_dead_letters", "flink_ddl",
    "flink_engine", "flink_props", "flink_sql", "flink_windows", "framed", "invalid", "provision",
}  # fmt: skip


def test_a_stream_job_definition_imports_no_engine() -> None:
    edges = graph()
    streams = {m.rsplit(".", 1)[-1] for m in edges if package_of(m) == "streams" and m != "agentflux.streams"}
    assert streams == STREAM_DEFINITION | STREAM_ENGINES, "name each streams module in one of the two sets"
    wrong = [
        f"{source} imports {target}"
        for source, targets in edges.items()
        if source.rsplit(".", 1)[-1] in STREAM_DEFINITION and package_of(source) == "streams"
        for target in targets
        if package_of(target) == "streams" and target.rsplit(".", 1)[-1] in STREAM_ENGINES
    ]
    assert not wrong, wrong


def test_the_map_of_modules_in_the_architecture_doc_matches_the_code() -> None:
    """Every module is on its package's line of the map, and every name there exists in that package."""
    import re

    doc = (ROOT.parent / "docs" / "architecture.md").read_text()
    lines = dict(re.findall(r"^- \*\*([a-z0-9_/]+)/\*\*: (.*)$", doc, flags=re.M))
    assert lines, "docs/architecture.md has no map of modules"
    for package, line in lines.items():
        folder = ROOT / package
        modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
        source = "\n".join(p.read_text() for p in folder.rglob("*.py"))
        named = set(re.findall(r"`([a-z_][a-z0-9_]*)`", line))
        assert modules <= named, f"{package}/: not on the map: {sorted(modules - named)}"
        unknown = {n for n in named - modules if not re.search(rf"\b{n}\b", source)}
        assert not unknown, f"{package}/: the map names what the package does not have: {sorted(unknown)}"
    packages = {p.parent.relative_to(ROOT).as_posix() for p in ROOT.rglob("*/__init__.py")}
    assert packages <= set(lines), f"packages missing from the map: {sorted(packages - set(lines))}"
