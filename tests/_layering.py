"""The import rules of merkit, as functions over a source tree (used by tests/test_layering.py).

Each module of the package has a rank (its layer); a module may import modules of its own rank
or lower. Imports are read from the syntax tree: ``import merkit.x``, ``from merkit.x import y``,
``from merkit import x`` (``x`` a subpackage or a name of the root ``__init__``), relative imports,
and, in a file that uses importlib, every string literal that names a module of the package (passed
to ``importlib.import_module`` or kept in a table of plug-ins), at module level and inside functions.

An import inside a function must say why it is there (a heavy or optional package, the lazy door of
the root package, a command's machinery kept out of ``merkit --help``): :func:`bare_function_imports`.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

#: rank of each top-level module or subpackage of ``merkit``; a module may import ranks <= its own.
RANK = {
    "_version": 0, "_options": 0, "errors": 0, "_io": 0, "_parallel": 0, "_numerics": 0, "cache": 0,
    "data": 1, "synth": 1,
    "face": 2,
    "motion": 3,
    "inputs": 4, "models": 4,
    "evaluation": 5,
    "training": 6,
    "deploy": 7,
    "experiments": 8,
    "cli": 9, "__main__": 9, "__init__": 9,
}


def module_name(root: Path, path: Path) -> str:
    """``merkit.training.loop`` for ``<root>/merkit/training/loop.py`` (a package is its ``__init__``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules(root: Path, package: str = "merkit") -> dict[str, Path]:
    return {module_name(root, p): p for p in sorted((root / package).rglob("*.py"))}


def _imported(node: ast.AST, name: str, is_package: bool) -> Iterator[tuple[str, list[str], int]]:
    """(module, names imported from it, line) for an import node; importlib literals as (module, [], line)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, [], node.lineno
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = name.split(".") if is_package else name.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        yield module, [a.name for a in node.names], node.lineno
    elif isinstance(node, ast.Call):
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if called == "import_module" and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            yield node.args[0].value, [], node.lineno


def edges(root: Path, package: str = "merkit") -> dict[str, set[tuple[str, int]]]:
    """module -> {(imported module of the package, line)}, every import in the file, resolved to files."""
    mods = modules(root, package)
    out: dict[str, set[tuple[str, int]]] = {m: set() for m in mods}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # a file that uses importlib may import any module it names in a string (a table of plug-ins)
        uses_importlib = any(isinstance(n, (ast.Import, ast.ImportFrom)) and "importlib" in
                             ([a.name for a in n.names] if isinstance(n, ast.Import) else [n.module or ""])
                             for n in ast.walk(tree))
        for node in ast.walk(tree):
            found = list(_imported(node, name, path.name == "__init__.py"))
            if uses_importlib and isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.startswith(package + ".") and node.value in mods:
                found.append((node.value, [], node.lineno))
            for module, names, line in found:
                if module != package and not module.startswith(package + "."):
                    continue
                targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in mods] or [module]
                for target in targets:
                    while target not in mods and "." in target:
                        target = target.rpartition(".")[0]
                    if target != name:
                        out[name].add((target, line))
    return out


def rank_of(module: str) -> int | None:
    parts = module.split(".")
    return RANK.get(parts[1] if len(parts) > 1 else "__init__")


def unranked(root: Path, package: str = "merkit") -> list[str]:
    return [m for m in modules(root, package) if rank_of(m) is None]


def upward_imports(root: Path, package: str = "merkit") -> list[str]:
    """``"a (rank i) imports b (rank j), line n"`` for every import of a higher-ranked module."""
    problems = []
    for name, targets in edges(root, package).items():
        own = rank_of(name)
        for target, line in sorted(targets):
            other = rank_of(target)
            if own is not None and other is not None and other > own:
                problems.append(f"{name} (rank {own}) imports {target} (rank {other}), line {line}")
    return problems


def cycles(root: Path, package: str = "merkit") -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), module-level and in-function imports alike.

    Importing one's own package ``__init__`` from inside the package is not counted: the package's
    ``__init__`` is what registers its modules.
    """
    graph = {m: {t for t, _ in ts if not m.startswith(t + ".")} for m, ts in edges(root, package).items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


#: tool directives, which say nothing about why an import is where it is
_DIRECTIVE = re.compile(r"\b(noqa(:\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*)?|type:\s*ignore(\[[^]]*\])?"
                        r"|pragma:\s*no\s*cover)", re.IGNORECASE)


def _comments(text: str) -> dict[int, str]:
    """line -> its comment (read with tokenize, so a ``#`` inside a string is no comment)."""
    return {tok.start[0]: tok.string for tok in tokenize.generate_tokens(io.StringIO(text).readline)
            if tok.type == tokenize.COMMENT}


def _is_reason(comment: str | None) -> bool:
    """A comment that says something once the tool directives (``# noqa: F401``) are taken out."""
    return bool(comment) and bool(_DIRECTIVE.sub("", comment.lstrip("#")).strip(" #()-:,;"))


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    types = [] if handler.type is None else handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    names = {getattr(t, "id", getattr(t, "attr", "")) for t in types}
    return bool(names & {"ImportError", "ModuleNotFoundError"})


def _guarded(tree: ast.AST) -> set[int]:
    """ids of the statements of every ``try:`` body that catches ``ImportError``, and of those handlers."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            handlers = [h for h in node.handlers if _catches_import_error(h)]
            if handlers:
                out.update(id(stmt) for stmt in node.body + [s for h in handlers for s in h.body])
    return out


def bare_function_imports(root: Path, package: str = "merkit") -> list[str]:
    """``"a, line n: <import>"`` for every import inside a function that gives no reason for being there.

    A reason is a comment on the import's own line(s), or a comment line directly above the import
    or above the run of import statements it belongs to (one comment per block). ``# noqa`` and other
    tool directives alone are no reason. An import in a ``try:`` whose handler catches ``ImportError``
    (or in that handler: the fallback) is an optional dependency and needs none.
    """
    problems = []
    for name, path in modules(root, package).items():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        lines, comments, guarded = text.splitlines(), _comments(text), _guarded(tree)

        def comment_line_above(node: ast.stmt) -> bool:
            above = node.lineno - 1
            return above >= 1 and lines[above - 1].lstrip().startswith("#") and _is_reason(comments.get(above))

        def explained(stmt: ast.stmt, block_head: ast.stmt) -> bool:
            return (id(stmt) in guarded
                    or any(_is_reason(comments.get(n)) for n in range(stmt.lineno, stmt.end_lineno + 1))
                    or comment_line_above(stmt) or comment_line_above(block_head))

        def visit(node: ast.AST, in_function: bool) -> None:
            for field in ("body", "orelse", "finalbody"):
                body = getattr(node, field, None)
                if not isinstance(body, list):
                    continue
                block_head = None  # first statement of the current run of import statements
                for stmt in body:
                    if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
                        block_head = None
                        continue
                    block_head = block_head or stmt
                    if in_function and not explained(stmt, block_head):
                        problems.append(f"{name}, line {stmt.lineno}: {lines[stmt.lineno - 1].strip()}")
            for child in ast.iter_child_nodes(node):
                visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

        visit(tree, False)
    return problems
