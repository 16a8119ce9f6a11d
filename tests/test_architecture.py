"""The package boundaries hold: no import circle in src/, imports only go down the layers, plugins use only the
public API (`chronicon.api`), and click commands are module-level functions, not closures."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "chronicon"
PLUGINS = REPO / "plugins"
EXAMPLES = REPO / "docs" / "examples"  # the plugin guide's sample follows the same rules

# Lowest first; a module may import its own layer and the ones below, never above. (The order:
# media / catalog / config -> analyzers / runtime -> builtin -> search -> library -> cli / web / plugins.)
LAYERS: list[tuple[str, ...]] = [
    ("chronicon", "chronicon.errors", "chronicon.types", "chronicon.logs", "chronicon.events", "chronicon.schemas",
     "chronicon.config"),
    ("chronicon.media", "chronicon.catalog", "chronicon.evaluation"),
    ("chronicon.runtime", "chronicon.embed", "chronicon.analyzers", "chronicon.hookspecs", "chronicon.scan"),
    ("chronicon.builtin",),
    ("chronicon.search",),
    ("chronicon.plugins", "chronicon.library"),
    ("chronicon.api",),
    ("chronicon.cli", "chronicon.web", "chronicon.__main__"),
]  # fmt: skip


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, also inside functions, except those under `if TYPE_CHECKING:` (annotations only:
    they never run, so they order nothing; import-linter's `exclude_type_checking_imports` does the same)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                yield from _runtime_imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _runtime_imports(node)


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    """Module -> the chronicon modules it imports (a `from package import name` counts as the module `name`
    when that is a module, else as the package)."""
    paths = {_module_name(p, root): p for p in root.rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in paths}
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
            for target in targets:
                found = resolve(target) if target.startswith("chronicon") else None
                if found and found != module:
                    graph[module].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_of(module: str) -> int:
    best, level = -1, -1
    for number, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or (prefix != "chronicon" and module.startswith(prefix + "."))
            if inside and len(prefix) > best:
                best, level = len(prefix), number
    if level < 0:
        raise AssertionError(f"{module} is in no layer: add its package to LAYERS in {__file__}")
    return level


def test_no_import_circle_in_src() -> None:
    assert cycles(import_graph()) == []


def test_imports_only_go_down_the_layers() -> None:
    upward = [
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in sorted(import_graph().items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_the_checker_sees_circles_and_type_only_imports(tmp_path: Path) -> None:
    """The check itself works: a planted circle is found, a TYPE_CHECKING import is not an edge."""
    package = tmp_path / "chronicon"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from chronicon import b\n")
    (package / "b.py").write_text("def f():\n    from chronicon.a import x\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from chronicon import a\n")
    graph = import_graph(package)
    assert cycles(graph) == [["chronicon.a", "chronicon.b"]]
    assert graph["chronicon.c"] == set()


def _plugin_files() -> list[Path]:
    return sorted(p for root in (PLUGINS, EXAMPLES) for p in root.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", _plugin_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_plugins_import_only_the_public_api(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    private = []
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            if (name == "chronicon" or name.startswith("chronicon.")) and not (
                name == "chronicon.api" or name.startswith("chronicon.api.")
            ):
                private.append(f"line {node.lineno}: {name}")
    assert private == [], f"{path.name} imports Chronicon internals; use chronicon.api"


def _python_files() -> list[Path]:
    return sorted([*SRC.rglob("*.py"), *_plugin_files()])


def _command_closures(tree: ast.AST) -> list[str]:
    """Functions decorated as click commands or groups that are defined inside another function."""
    out: list[str] = []

    def walk(node: ast.AST, inside: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                decorators = [ast.unparse(d) for d in child.decorator_list]
                if inside and any(".command" in d or ".group" in d for d in decorators):
                    out.append(f"{child.name} (line {child.lineno})")
                walk(child, True)
            else:
                walk(child, inside)

    walk(tree, False)
    return out


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_click_commands_are_module_level_functions(path: Path) -> None:
    assert _command_closures(ast.parse(path.read_text(encoding="utf-8"))) == []


def test_no_config_lookups_with_defaults_at_the_call_site() -> None:
    """Defaults live in the Setting declarations only: nothing reads a config section with .get(key, default)."""
    offenders = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and isinstance(node.func.value, ast.Attribute | ast.Name)
                and ast.unparse(node.func.value).split(".")[-1] in ("config", "cfg", "scan", "scan_config")
            ):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == []
