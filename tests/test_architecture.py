"""The shape of the code, read from its imports (nothing is imported or run).

- The layers of `lth_tf` are the table in docs/internals.md ("Layers"): every
  folder of `lth_tf/` is one of them, and a module imports only from its own
  layer or lower ones, never from a higher one.
- No import cycles among the modules of `lth_tf`, `tui` and `benchmarks`.
- `lth_tf` never imports `tui`, `benchmarks` or `tests`.
- No underscore name (a private module or attribute) is imported from another package.
- The core and storage layers never import TensorFlow, Keras, tfmot or Spektral.
- Keras 3 (`import keras`) is imported only by `lth_tf.platform.backend.keras3()`.
- No module-level mutable state in `lth_tf`: no `global`, no module name bound to a
  mutable container unless it is an UPPER_CASE constant, and no constant written by a
  function that does not run at import (a registry filled by `register(...)` at import
  may be; a cache may not: use functools.cache). The platform object is passed instead.

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


def test_keras3_is_imported_only_through_the_backend():
    """`import keras` (Keras 3) happens in one place, `lth_tf.platform.backend.keras3()`, after
    TF_USE_LEGACY_KERAS is set; everything else asks it (or `keras3.detect`, which never imports)."""
    found = modules()
    direct = [
        f"{found[m].relative_to(ROOT)}:{line}: {base}"
        for m in found
        if m.startswith("lth_tf") and m != "lth_tf.platform.backend"
        for base, _name, line in imports(m, found)
        if base.split(".")[0] == "keras"
    ]
    assert not direct, "Keras 3 imported outside lth_tf/platform/backend.py:\n" + "\n".join(direct)


# -- no module-level mutable state ------------------------------------------------------------
MUTABLE_CALLS = {"dict", "list", "set", "bytearray", "defaultdict", "OrderedDict", "Counter", "deque",
                 "WeakKeyDictionary", "WeakValueDictionary"}
MUTATORS = {"append", "extend", "insert", "remove", "pop", "popitem", "clear", "update", "setdefault",
            "add", "discard", "difference_update", "intersection_update", "symmetric_difference_update",
            "appendleft", "extendleft"}
Function = ast.FunctionDef | ast.AsyncFunctionDef


def _is_mutable(value: ast.expr | None) -> bool:
    if isinstance(value, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp | ast.SetComp):
        return True
    if isinstance(value, ast.Call):
        f = value.func
        return (f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)) in MUTABLE_CALLS
    return False


def _is_constant_name(name: str) -> bool:
    bare = name.strip("_")
    return (name.startswith("__") and name.endswith("__")) or (bare.isupper() and bare.replace("_", "").isalnum())


def _module_level(tree: ast.Module) -> Iterator[ast.stmt]:
    """Statements that run at import: the module body, into if/try/with blocks (not defs or classes)."""
    todo = list(tree.body)
    while todo:
        node = todo.pop(0)
        yield node
        if isinstance(node, ast.If | ast.Try | ast.With | ast.For | ast.While):
            for field in ("body", "orelse", "finalbody", "handlers"):
                todo.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            todo.extend(node.body)


def applied_at_import(trees: list[ast.Module]) -> set[str]:
    """Names of functions called or used as decorators by module-level code of any module
    (a registry filled through `register(...)` at import is filled at import)."""
    names = set()
    for tree in trees:
        for node in _module_level(tree):
            if isinstance(node, Function | ast.ClassDef):  # its body runs later: only its decorators now
                applied = node.decorator_list
            else:
                applied = [n.func for n in ast.walk(node) if isinstance(n, ast.Call)]
            for expr in applied:
                expr = expr.func if isinstance(expr, ast.Call) else expr
                names.add(expr.id if isinstance(expr, ast.Name) else getattr(expr, "attr", ""))
    return names


def module_state(tree: ast.Module, at_import: set[str] = frozenset()) -> list[str]:
    """Module-level mutable state in one module: `global` statements, module names bound to a
    mutable container that are not UPPER_CASE constants, and constants written by functions
    that do not run at import (a cache is state, whatever its name)."""
    found = [f"{n.lineno}: global {', '.join(n.names)}" for n in ast.walk(tree) if isinstance(n, ast.Global)]
    containers = set()
    for node in _module_level(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and _is_mutable(node.value):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    containers.add(t.id)
                    if not _is_constant_name(t.id):
                        found.append(f"{node.lineno}: {t.id} is a mutable container, not a constant")
    for fn, exempt in _functions(tree, at_import, False):
        if exempt:
            continue
        for n in _own_nodes(fn):
            written = None
            if isinstance(n, ast.Assign | ast.AugAssign | ast.Delete):
                for t in n.targets if isinstance(n, ast.Assign | ast.Delete) else [n.target]:
                    if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name):
                        written = t.value.id
            elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in MUTATORS
                  and isinstance(n.func.value, ast.Name)):
                written = n.func.value.id
            if written in containers and not _shadowed(fn, written):
                found.append(f"{n.lineno}: {fn.name}() writes the module's {written}")
    return found


def _functions(node: ast.AST, at_import: set[str], exempt: bool) -> Iterator[tuple[Function, bool]]:
    """Every function under `node`, and whether it runs at import (itself, or inside one that does)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, Function):
            mine = exempt or child.name in at_import
            yield child, mine
            yield from _functions(child, at_import, mine)
        else:
            yield from _functions(child, at_import, exempt)


def _own_nodes(fn: Function) -> Iterator[ast.AST]:
    """The nodes of `fn`'s body, without those of functions defined in it."""
    todo = list(fn.body)
    while todo:
        node = todo.pop()
        yield node
        todo.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, Function | ast.Lambda))


def _shadowed(fn: Function, name: str) -> bool:
    """Whether `name` is a local of `fn` (an argument or assigned there), not the module's."""
    args = fn.args
    if name in {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a}:
        return True
    return any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store) for n in ast.walk(fn))


def test_no_module_level_mutable_state():
    """A platform object is passed down; nothing in lth_tf keeps state in a module (see
    docs/internals.md, Conventions). Constants may be containers filled at import."""
    paths = sorted((ROOT / "lth_tf").rglob("*.py"))
    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in paths}
    at_import = applied_at_import(list(trees.values()))
    found = [f"{p.relative_to(ROOT)}:{line}" for p, tree in trees.items() for line in module_state(tree, at_import)]
    assert not found, "module-level mutable state:\n" + "\n".join(found)


def test_the_state_check_sees_globals_tables_and_caches():
    old = '''
_made: dict = {}
SOURCE = None
_CACHE: dict = {}
REGISTRY = {}
__all__ = ["x"]

def choose():
    global SOURCE
    SOURCE = "lth_tf"

def setup(spec):
    _made.update(spec=spec)

def cached(k):
    if k not in _CACHE:
        _CACHE[k] = k
    return _CACHE[k]

def register(name):
    def deco(f):
        REGISTRY[name] = f
        return f
    return deco

@register("a")
def a():
    pass

def local_shadow():
    _made = {}
    _made["x"] = 1
'''
    tree = ast.parse(old)
    found = module_state(tree, applied_at_import([tree]))
    assert [f.split(": ", 1)[1] for f in found] == [
        "global SOURCE", "_made is a mutable container, not a constant",
        "setup() writes the module's _made", "cached() writes the module's _CACHE",
    ]
