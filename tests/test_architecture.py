"""The shape of ``ptrain/``, read from its source with ``ast``: no import cycles (type-only
imports included), no module over 500 lines, no function over 80 lines without a reason.

Every ``import`` and ``from ... import`` of a ptrain module is an edge, wherever it is written:
at the top, inside a function (a lazy import is still a dependency) or under
``if TYPE_CHECKING:`` (a type-only edge; a cycle through one is still a cycle in the design, and
the first thing a refactor turns into a runtime one). Nothing is allow-listed here.

A ptrain module imported inside a function hides a dependency from a reader of the module's top,
so each one says why it is lazy with a ``# lazy: <reason>`` comment on the statement (a fast
path it keeps a library off, a cycle it avoids, an optional dependency).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ptrain"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
# a function may be longer when the line just above its ``def`` (or its first decorator) says why
LONG_FUNCTION_MARK = "# long function:"
LAZY_MARK = "# lazy:"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    line: int
    type_only: bool

    def __str__(self) -> str:
        kind = " (TYPE_CHECKING)" if self.type_only else ""
        return f"{self.src}:{self.line} -> {self.dst}{kind}"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, src: str, is_pkg: bool, known: set[str]):
    """The ptrain modules an import statement loads (``from a import b``: ``a.b`` if it is a
    module, else ``a``)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            name = alias.name
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                yield name
        return
    if node.level:  # relative: resolve against the importing module's package
        base = src.split(".") if is_pkg else src.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        mod = ".".join(base + ([node.module] if node.module else []))
    else:
        mod = node.module or ""
    if mod.split(".")[0] != "ptrain":
        return
    for alias in node.names:
        sub = f"{mod}.{alias.name}"
        if sub in known:
            yield sub
        elif mod in known:
            yield mod


def import_edges(modules: dict[str, Path]) -> list[Edge]:
    known = set(modules)
    edges: list[Edge] = []
    for src, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        is_pkg = path.name == "__init__.py"

        def visit(node: ast.AST, type_only: bool, src: str = src, is_pkg: bool = is_pkg) -> None:
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                for child in node.body:
                    visit(child, True)
                for child in node.orelse:
                    visit(child, type_only)
                return
            if isinstance(node, ast.Import | ast.ImportFrom):
                for dst in _targets(node, src, is_pkg, known):
                    if dst != src:
                        edges.append(Edge(src, dst, node.lineno, type_only))
            for child in ast.iter_child_nodes(node):
                visit(child, type_only)

        visit(tree, False)
    return edges


def cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.src, set()).add(e.dst)
        graph.setdefault(e.dst, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return sorted(out)


def describe_cycle(comp: list[str], edges: list[Edge]) -> str:
    inside = set(comp)
    lines = [str(e) for e in edges if e.src in inside and e.dst in inside]
    return " <-> ".join(comp) + "\n      " + "\n      ".join(sorted(lines))


def long_functions(path: Path) -> list[tuple[str, int, int]]:
    """(qualified name, first line, length) of functions over MAX_FUNCTION_LINES without a
    ``# long function: <reason>`` comment on the line above."""
    text = path.read_text()
    lines = text.splitlines()
    out = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                length = (child.end_lineno or child.lineno) - first + 1
                above = lines[first - 2].strip() if first >= 2 else ""
                if length > MAX_FUNCTION_LINES and not above.startswith(LONG_FUNCTION_MARK):
                    out.append((prefix + child.name, child.lineno, length))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(text, str(path)), "")
    return out


def unmarked_lazy_imports(path: Path) -> list[tuple[str, int, str]]:
    """(function, line, statement) of the imports of ptrain modules written inside a function
    without a ``# lazy: <reason>`` comment on one of the statement's lines (the first, or any
    line of a parenthesised ``from ... import (...)``)."""
    text = path.read_text()
    lines = text.splitlines()
    out = []

    def own(node: ast.Import | ast.ImportFrom) -> bool:
        if isinstance(node, ast.Import):
            return any(a.name.split(".")[0] == "ptrain" for a in node.names)
        return bool(node.level) or (node.module or "").split(".")[0] == "ptrain"

    def marked(node: ast.stmt) -> bool:
        for line in lines[node.lineno - 1 : (node.end_lineno or node.lineno)]:
            _, mark, reason = line.partition(LAZY_MARK)
            if mark and reason.strip():
                return True
        return False

    def visit(node: ast.AST, fn: str, qual: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{qual}{child.name}"
                visit(child, name, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, fn, f"{qual}{child.name}.")
            elif isinstance(child, ast.Import | ast.ImportFrom):
                if fn and own(child) and not marked(child):
                    out.append((fn, child.lineno, lines[child.lineno - 1].strip()))
            else:
                visit(child, fn, qual)

    visit(ast.parse(text, str(path)), "", "")
    return out


# -- the checker checks what it should (on small synthetic packages) ---------------------------


def _edges_of(tmp_path: Path, files: dict[str, str]) -> list[Edge]:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    mods = {}
    for p in sorted((tmp_path / "ptrain").rglob("*.py")):
        parts = list(p.relative_to(tmp_path).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = p
    return import_edges(mods)


def test_the_checker_sees_lazy_relative_and_type_only_cycles(tmp_path):
    edges = _edges_of(
        tmp_path,
        {
            "ptrain/__init__.py": "",
            "ptrain/a.py": "def f():\n    from ptrain import b\n",  # lazy
            "ptrain/b.py": "from ptrain.c import x\n",
            "ptrain/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from .a import f\nx = 1\n",  # relative and type-only
            "ptrain/d/__init__.py": "from . import e\n",
            "ptrain/d/e.py": "import ptrain.b\n",
        },
    )
    assert cycles(edges) == [["ptrain.a", "ptrain.b", "ptrain.c"]]
    assert Edge("ptrain.c", "ptrain.a", 3, True) in edges
    assert Edge("ptrain.d", "ptrain.d.e", 1, False) in edges
    assert Edge("ptrain.d.e", "ptrain.b", 1, False) in edges


def test_the_checker_passes_a_layered_package(tmp_path):
    edges = _edges_of(
        tmp_path,
        {
            "ptrain/__init__.py": "from ptrain.top import run\n",
            "ptrain/top.py": "from ptrain import low\nimport json\nrun = low.x\n",
            "ptrain/low.py": "x = 1\n",
        },
    )
    assert cycles(edges) == [] and len(edges) == 2


def test_the_checker_measures_functions(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(85))  # 86 lines with the def
    p = tmp_path / "m.py"
    p.write_text(
        f"def long():\n{body}\n"
        f"# long function: a table, one line per case\ndef excused():\n{body}\n"
        f"def short():\n    return 1\n\n"
        "class C:\n    @staticmethod\n    def method():\n" + body.replace("    ", "        ")
    )
    found = long_functions(p)
    assert [(n, ln, length) for n, ln, length in found] == [("long", 1, 86), ("C.method", 181, 87)]


def test_the_checker_finds_unmarked_lazy_own_imports(tmp_path):
    p = tmp_path / "m.py"
    p.write_text(
        "import json\n"
        "from ptrain.errors import PtrainError\n"  # top level: fine
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ptrain.repo import PromptRepo\n"  # type-only: fine
        "def plain():\n    from ptrain.repo import PromptRepo\n"  # unmarked
        "def third_party():\n    import numpy\n"  # not ptrain's: fine
        "def marked():\n    from ptrain.prompts import x  # lazy: keeps pydantic off show\n"
        "def empty_reason():\n    from ptrain.prompts import x  # lazy:\n"
        "def wrapped():\n    from ptrain.prompts import (  # lazy: keeps pydantic off show\n"
        "        a,\n        b,\n    )\n"
        "class C:\n    def method(self):\n        if self:\n            from . import sibling\n"
        "            import ptrain.storage.git\n"
    )
    found = unmarked_lazy_imports(p)
    assert [(fn, line) for fn, line, _ in found] == [
        ("plain", 7),
        ("empty_reason", 13),
        ("C.method", 22),
        ("C.method", 23),
    ]


# -- ptrain itself ------------------------------------------------------------------------------


def test_no_import_cycles():
    edges = import_edges(source_modules())
    assert edges, "no imports found: the walker is broken"
    found = cycles(edges)
    assert not found, "import cycles in ptrain/ (each with the edges that close it):\n  " + (
        "\n  ".join(describe_cycle(c, edges) for c in found)
    )


def test_no_module_over_500_lines():
    over = {
        name: n
        for name, path in source_modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not over, f"modules over {MAX_MODULE_LINES} lines: " + ", ".join(
        f"{name} ({n})" for name, n in sorted(over.items(), key=lambda kv: -kv[1])
    )


def test_no_function_over_80_lines_without_a_reason():
    over = [
        f"{name}:{fn} line {line} ({n} lines)"
        for name, path in source_modules().items()
        for fn, line, n in long_functions(path)
    ]
    assert not over, (
        f"functions over {MAX_FUNCTION_LINES} lines (split them, or put a "
        f"'{LONG_FUNCTION_MARK} <reason>' comment above the def): " + "; ".join(over)
    )


@pytest.mark.parametrize("module", ["ptrain.ab.model", "ptrain.ab.stats"])
def test_ab_model_and_stats_sit_below_the_repo(module):
    """repo.get chooses the variant through ptrain.ab.model, so neither the model nor the
    statistics may reach up to the repo, the service or the feedback store."""
    edges = import_edges(source_modules())
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.src, set()).add(e.dst)
    seen, todo = set(), [module]
    while todo:
        for dst in graph.get(todo.pop(), ()):
            if dst not in seen:
                seen.add(dst)
                todo.append(dst)
    assert not seen & {"ptrain.repo", "ptrain.ab.service", "ptrain.feedback", "ptrain.ab"}, seen


def test_every_lazy_own_import_says_why():
    """Own modules are imported at the top; one imported inside a function carries a
    ``# lazy: <reason>`` comment (measured fast path, cycle, optional dependency)."""
    found = [
        f"{rel}:{line} in {fn}: {stmt}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for rel in [path.relative_to(ROOT).as_posix()]
        for fn, line, stmt in unmarked_lazy_imports(path)
    ]
    assert not found, (
        f"function-local imports of ptrain modules without a '{LAZY_MARK} <reason>' comment "
        "(move them to the top of the module, or say why they stay lazy):\n  " + "\n  ".join(found)
    )
