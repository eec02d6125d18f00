"""The shape of the code, read from its imports (nothing is imported or run).

- The layers of `lth_tf` are the table in docs/internals.md ("Layers"): every
  folder of `lth_tf/` is one of them, and a module imports only from its own
  layer or lower ones, never from a higher one.
- No import cycles among the modules of `lth_tf`, `tui` and `benchmarks`.
- `lth_tf` never imports `tui`, `benchmarks` or `tests`.
- No underscore name (a private module or attribute) is imported from another package.
- The core and storage layers never import TensorFlow, Keras, tfmot or Spektral.

Imports inside functions count like top-level ones: a lazy import is still an arrow.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INTERNALS = ROOT / "docs" / "internals.md"
PACKAGES = ("lth_tf", "tui", "benchmarks", "examples")
TF_MODULES = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization", "spektral")
NO_TF_LAYERS = ("core", "storage")


def layer_table() -> dict[str, int]:
    """{folder under lth_tf/: layer number} from the table under '## Layers' in internals.md."""
    text = INTERNALS.read_text(encoding="utf-8")
    section = text.split("\n## Layers", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*`lth_tf/(\w+)/`", section, re.MULTILINE)
    assert rows, "docs/internals.md has no layer table under '## Layers'"
    return {folder: int(n) for n, folder in rows}


def modules() -> dict[str, Path]:
    found = {}
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def package_of(module: str, found: dict[str, Path]) -> str:
    return module if found[module].name == "__init__.py" else module.rpartition(".")[0]


def imports(module: str, found: dict[str, Path]) -> Iterator[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import in `module`."""
    path = found[module]
    package = package_of(module, found)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                yield base, alias.name, node.lineno


def resolve(name: str, found: dict[str, Path]) -> str | None:
    while name and name not in found:
        name = name.rpartition(".")[0]
    return name or None


def edges(found: dict[str, Path]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {m: set() for m in found}
    for m in found:
        for base, name, _ in imports(m, found):
            for target in (f"{base}.{name}" if name else None, base):
                t = target and resolve(target, found)
                if t and t != m and not m.startswith(t + "."):  # a package's own __init__ is no arrow
                    out[m].add(t)
                    break
    return out


def layer_of(module: str, table: dict[str, int]) -> int | None:
    parts = module.split(".")
    if parts[0] != "lth_tf":
        return None
    if len(parts) == 2 and parts[1] not in table:  # lth_tf/__init__.py, __main__.py: the top
        return max(table.values()) + 1
    return table.get(parts[1], max(table.values()) + 1) if len(parts) > 1 else max(table.values()) + 1


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_folder_of_lth_tf_is_a_layer():
    table = layer_table()
    folders = {p.name for p in (ROOT / "lth_tf").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= set(table), f"folders missing from the layer table in docs/internals.md: {folders - set(table)}"
    assert set(table) <= folders, f"layers in docs/internals.md with no folder: {set(table) - folders}"


def test_no_import_runs_up_the_layers():
    table, found = layer_table(), modules()
    upward = []
    for m, targets in edges(found).items():
        for t in targets:
            if m.startswith("lth_tf") and not t.startswith("lth_tf"):
                upward.append(f"{m} -> {t} (lth_tf imports {t.split('.')[0]})")
            lm, lt = layer_of(m, table), layer_of(t, table)
            if lm is None or lt is None or m.split(".")[:2] == t.split(".")[:2]:
                continue
            if lt >= lm:
                upward.append(f"{m} (layer {lm}) -> {t} (layer {lt})")
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    loops = cycles(edges(modules()))
    assert not loops, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in loops)


def test_no_private_name_crosses_a_package():
    found = modules()
    crossing = []
    for m in found:
        here = package_of(m, found)
        for base, name, line in imports(m, found):
            target = resolve(base, found)
            if target is None or not base.split(".")[0] in PACKAGES:
                continue
            there = package_of(target, found)
            private = [p for p in base.split(".") if p.startswith("_") and p not in ("__init__", "__main__")]
            if name and name.startswith("_") and name not in ("__version__",):
                private.append(name)
            if private and there != here:
                crossing.append(f"{found[m].relative_to(ROOT)}:{line}: {base} {name or ''}".rstrip())
    assert not crossing, "private names imported from another package:\n" + "\n".join(crossing)


def test_core_and_storage_never_import_tensorflow():
    table, found = layer_table(), modules()
    heavy = []
    for m in found:
        parts = m.split(".")
        if parts[0] != "lth_tf" or len(parts) < 2 or parts[1] not in NO_TF_LAYERS:
            continue
        for base, _name, line in imports(m, found):
            if base.split(".")[0] in TF_MODULES or base == "lth_tf.platform.backend":
                heavy.append(f"{found[m].relative_to(ROOT)}:{line}: {base}")
    assert table and not heavy, "TensorFlow imported by a pure layer:\n" + "\n".join(heavy)
