"""Counts that say how the code is shaped, the same way before and after a restructuring.

    python tools/shape_metrics.py [ROOT]

Per package (host, device_agent, tools, tests): modules, lines, ``dict[str, Any]`` and ``Any``
annotations, ``Literal`` and ``Enum`` uses, comparisons of a name against a string literal,
functions over 50 lines, lines over 120 characters, and the module-level import cycles.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

PACKAGES = ("host", "device_agent", "emulated_device", "tools", "tests")


def _annotation_text(node: ast.AST | None) -> str:
    return ast.unparse(node) if node is not None else ""


def _annotations(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs, node.args.vararg, node.args.kwarg]
            found += [_annotation_text(a.annotation) for a in args if a is not None]
            found.append(_annotation_text(node.returns))
        elif isinstance(node, ast.AnnAssign):
            found.append(_annotation_text(node.annotation))
    return [text for text in found if text]


def _string_comparisons(tree: ast.AST) -> int:
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
            sides = [node.left, *node.comparators]
            if any(isinstance(s, ast.Constant) and isinstance(s.value, str) for s in sides):
                count += 1
    return count


def _imports(tree: ast.AST, modules: set[str]) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{a.name}" for a in node.names} & modules
            names |= submodules  # ``from pkg import mod`` imports mod; pkg's own names come from pkg
            if len(submodules) < len(node.names):
                names.add(node.module)
    return names


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module: the import cycles."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    names = sorted(graph)
    index = {name: i for i, name in enumerate(names)}
    edges = [(index[a], index[b]) for a in names for b in graph[a] if b in index]
    rows, cols = zip(*edges, strict=True) if edges else ((), ())
    matrix = csr_matrix(([1] * len(edges), (rows, cols)), shape=(len(names), len(names)))
    _, component = connected_components(matrix, directed=True, connection="strong")
    groups: dict[int, list[str]] = {}
    for name, label in zip(names, component, strict=True):
        groups.setdefault(int(label), []).append(name)
    return sorted(group for group in groups.values() if len(group) > 1)


def measure(root: Path) -> dict[str, object]:
    totals: dict[str, dict[str, int]] = {}
    graph: dict[str, set[str]] = {}
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "_protos" in path.parts:
                continue
            modules[_module_name(path, root)] = path
    for name, path in modules.items():
        text = path.read_text()
        tree = ast.parse(text)
        package = name.split(".")[0]
        row = totals.setdefault(
            package,
            dict.fromkeys(
                (
                    "modules",
                    "lines",
                    "dict_str_any",
                    "any",
                    "literal",
                    "enum",
                    "string_comparisons",
                    "long_functions",
                    "lines_over_120",
                ),
                0,
            ),
        )
        annotations = _annotations(tree)
        row["modules"] += 1
        row["lines"] += len(text.splitlines())
        row["dict_str_any"] += sum(a.count("dict[str, Any]") for a in annotations)
        row["any"] += sum(a.count("Any") for a in annotations)
        row["literal"] += text.count("Literal[")
        row["enum"] += sum(
            1
            for n in ast.walk(tree)
            if isinstance(n, ast.ClassDef)
            for b in n.bases
            if _annotation_text(b).endswith(("Enum", "StrEnum", "IntEnum"))
        )
        row["string_comparisons"] += _string_comparisons(tree)
        row["long_functions"] += sum(
            1
            for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 50
        )
        row["lines_over_120"] += sum(1 for line in text.splitlines() if len(line) > 120)
        graph[name] = {m for m in _imports(tree, set(modules)) if m in modules and m != name}
    return {"packages": totals, "module_cycles": _cycles({k: v for k, v in graph.items() if not k.startswith("tests")})}


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[1]
    print(json.dumps(measure(root), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
