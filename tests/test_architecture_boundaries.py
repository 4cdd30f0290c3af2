"""The layers of DESIGN.md as tests, so `make test` guards them (`make lint` runs the same rules
through import-linter, configured in pyproject.toml).

The import graph is built from the AST of every module under memcli/, imports inside functions
included: a lazy import is still an arrow. ``__import__("x")`` / ``importlib.import_module("x")``
count too, when the name is a literal (or a loop over literals).

    cli | tui | mcp  ->  services  ->  retrieval | store | importers | backends  ->  core

Higher layers may import any lower one; nothing points back up; siblings in one layer never import
each other.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "memcli"

# layer rank of each subpackage of memcli; "memcli" itself (__init__.py) sits with core;
# memcli.main (the script, composition root) sits above the front ends, `python -m memcli` (__main__) above it
LAYERS = {
    "__main__": 5, "main": 4,
    "cli": 3, "tui": 3, "mcp": 3,
    "services": 2,
    "retrieval": 1, "store": 1, "importers": 1, "backends": 1,
    "core": 0, "": 0,
}
FRONT_END_LIBS = {"typer", "textual", "rich", "click"}
SQL_LIBS = {"sqlite3", "pysqlite3", "sqlean", "sqlite_utils", "sqlite_vec"}
# core: the standard library and platformdirs, plus dateparser, imported lazily by
# core.timeutil.parse_free for free-text dates ("last friday") that the stdlib cannot read
CORE_EXTERNALS = {"platformdirs", "dateparser"}
MAX_LINES = 400
HEAVY = ("torch", "sentence_transformers", "llama_cpp", "onnxruntime", "transformers", "httpx",
         "dateparser", "textual", "mcp")


@dataclass(frozen=True)
class Arrow:
    importer: str
    imported: str  # a memcli module, or the top-level name of anything else
    line: int

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} (l.{self.line})"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def _dynamic_names(call: ast.Call, scope: ast.AST) -> list[str] | None:
    """Module names a ``__import__(...)``/``import_module(...)`` call may load, or None when the
    argument is neither a literal nor a name bound to literals in the enclosing function."""
    if not call.args:
        return None
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return [arg.value]
    if not isinstance(arg, ast.Name):
        return None
    names: list[str] = []
    for node in ast.walk(scope):
        if (isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.target, ast.Name)
                and node.target.id == arg.id and isinstance(node.iter, (ast.Tuple, ast.List))):
            names += [e.value for e in node.iter.elts
                      if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and any(
                isinstance(t, ast.Name) and t.id == arg.id for t in node.targets):
            names.append(node.value.value)
    return names or None


def _is_dynamic_import(call: ast.Call) -> bool:
    f = call.func
    return ((isinstance(f, ast.Name) and f.id in ("__import__", "import_module"))
            or (isinstance(f, ast.Attribute) and f.attr == "import_module"))


def _resolve(name: str, known: dict[str, Path]) -> str:
    """The deepest memcli module ``name`` names, or the top-level name of an outside module."""
    if name.split(".")[0] != "memcli":
        return name.split(".")[0]
    parts = name.split(".")
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts) or name


@lru_cache(maxsize=1)
def graph() -> tuple[tuple[Arrow, ...], tuple[str, ...]]:
    """Every import arrow of every memcli module, and the dynamic imports it could not follow."""
    known = modules()
    arrows: list[Arrow] = []
    unresolved: list[str] = []
    for mod, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        scopes = [tree] + [n for n in ast.walk(tree)
                           if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        seen_calls: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    arrows.append(Arrow(mod, _resolve(alias.name, known), node.lineno))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if source == "__future__":
                    continue
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    target = sub if sub in known else source
                    arrows.append(Arrow(mod, _resolve(target, known), node.lineno))
        # dynamic imports: resolve against the innermost function that holds the call
        for scope in reversed(scopes):
            for node in ast.walk(scope):
                if isinstance(node, ast.Call) and _is_dynamic_import(node) and id(node) not in seen_calls:
                    seen_calls.add(id(node))
                    names = _dynamic_names(node, scope)
                    if names is None:
                        unresolved.append(f"{mod} (l.{node.lineno})")
                        continue
                    arrows += [Arrow(mod, _resolve(n, known), node.lineno) for n in names]
    return tuple(dict.fromkeys(arrows)), tuple(unresolved)


def internal_arrows() -> list[Arrow]:
    return [a for a in graph()[0] if a.imported.split(".")[0] == "memcli" and a.imported != a.importer]


def group(mod: str) -> str:
    """The layer package a memcli module belongs to ("" for memcli/__init__.py)."""
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


def in_groups(mod: str, groups: set[str]) -> bool:
    return mod.split(".")[0] == "memcli" and group(mod) in groups


def report(title: str, lines) -> str:
    lines = list(lines)
    return f"{title} ({len(lines)}):\n  " + "\n  ".join(lines)


# ---- the graph itself ------------------------------------------------------------------------------

def test_the_graph_sees_lazy_and_dynamic_imports():
    """Guards the test itself: imports inside functions and the store's __import__ are arrows."""
    arrows, unresolved = graph()
    assert len(modules()) > 20
    lazy = [a for a in arrows if a.importer.startswith("memcli.cli.commands") and
            a.imported.startswith("memcli.services")]
    assert lazy, "the CLI commands import their services inside the command functions"
    store_sql = {a.imported for a in arrows if a.importer.startswith("memcli.store")} & SQL_LIBS
    assert {"sqlite3", "pysqlite3"} <= store_sql, store_sql
    assert not unresolved, report(
        "dynamic imports whose module name is not a literal (name it, so this test can follow it)",
        unresolved)


def test_every_subpackage_has_a_layer():
    unplaced = sorted({group(m) for m in modules()} - set(LAYERS))
    assert not unplaced, f"place these memcli subpackages in LAYERS (and pyproject's contract): {unplaced}"


# ---- the rules -------------------------------------------------------------------------------------

def test_no_import_cycles():
    """Between memcli modules, lazy imports included (Tarjan's strongly connected components)."""
    edges: dict[str, dict[str, Arrow]] = {m: {} for m in modules()}
    for a in internal_arrows():
        edges[a.importer].setdefault(a.imported, a)

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # the graph is small (~70 nodes): recursion is fine
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
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
                components.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)

    def one_cycle(comp: list[str]) -> list[Arrow]:
        """A shortest cycle through the component's first module (breadth-first)."""
        members, start = set(comp), comp[0]
        came: dict[str, Arrow | None] = {start: None}
        queue = [start]
        while queue:
            v = queue.pop(0)
            for w, arrow in sorted(edges[v].items()):
                if w == start:
                    path = [arrow]
                    while came[v] is not None:
                        path.append(came[v])
                        v = came[v].importer
                    return path[::-1]
                if w in members and w not in came:
                    came[w] = arrow
                    queue.append(w)
        return []

    found = [" -> ".join([c[0].importer] + [f"{a.imported} (l.{a.line})" for a in c])
             + (f"   [cycles run through all of {', '.join(comp)}]" if len(comp) > 2 else "")
             for comp, c in zip(components, map(one_cycle, components))]
    assert not found, report("import cycles between memcli modules", found)


def test_layers_point_down_only():
    broken = []
    for a in internal_arrows():
        src, dst = group(a.importer), group(a.imported)
        if src == dst or src not in LAYERS or dst not in LAYERS:
            continue
        if LAYERS[src] < LAYERS[dst]:
            broken.append(f"{a}: {src or 'memcli'} is below {dst or 'memcli'}")
        elif LAYERS[src] == LAYERS[dst]:
            broken.append(f"{a}: {src or 'memcli'} and {dst or 'memcli'} are independent siblings")
    assert not broken, report("imports against the layers", sorted(broken))


def test_core_imports_nothing_else_of_memcli_and_only_stdlib_and_platformdirs():
    stdlib = set(sys.stdlib_module_names)
    broken = [str(a) for a in graph()[0] if in_groups(a.importer, {"core", ""})
              and (in_groups(a.imported, set(LAYERS) - {"core"})
                   or (a.imported.split(".")[0] != "memcli"
                       and a.imported not in stdlib | CORE_EXTERNALS))]
    assert not broken, report("core imports beyond the standard library, platformdirs and core",
                              sorted(broken))


def test_services_and_below_import_no_front_end_library():
    below = {g for g, rank in LAYERS.items() if rank <= LAYERS["services"]}
    broken = [str(a) for a in graph()[0] if in_groups(a.importer, below) and a.imported in FRONT_END_LIBS]
    assert not broken, report(f"services and below importing {sorted(FRONT_END_LIBS)}", sorted(broken))


def test_only_the_store_imports_sqlite():
    broken = [str(a) for a in graph()[0] if a.imported in SQL_LIBS and not in_groups(a.importer, {"store"})]
    assert not broken, report(f"imports of {sorted(SQL_LIBS)} outside memcli.store", sorted(broken))


def test_no_module_over_400_lines():
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in modules().items()}
    over = sorted(((n, m) for m, n in sizes.items() if n > MAX_LINES), reverse=True)
    if over:
        print(report(f"modules over {MAX_LINES} lines", (f"{m}: {n}" for n, m in over)))
    assert not over, report(f"modules over {MAX_LINES} lines (split by responsibility)",
                            (f"{m}: {n} lines" for n, m in over))


# ---- start-up cost: one fresh interpreter per entry point -----------------------------------------

def loaded_heavy(statement: str) -> list[str]:
    code = (f"import sys\n{statement}\n"
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_script_entry_point_loads_no_heavy_module():
    """`memcli` (memcli.main:run) imports every command; each loads its models on use."""
    assert loaded_heavy("import memcli.main") == []


def test_library_api_loads_no_heavy_module():
    """memcli.services, and every module in it (Memory, ingest, ask, chat, digest, …)."""
    names = sorted(m for m in modules() if in_groups(m, {"services"}))
    assert loaded_heavy("\n".join(f"import {m}" for m in names)) == []


def test_tui_entry_point_loads_only_textual():
    assert loaded_heavy("import memcli.tui.app") == ["textual"]


def test_no_module_loads_a_heavy_module_at_import():
    """Every memcli module but the textual app imports cheaply (models load inside functions)."""
    names = sorted(m for m in modules() if not in_groups(m, {"tui"}) and m != "memcli.__main__")
    assert loaded_heavy("\n".join(f"import {m}" for m in names)) == []


@pytest.mark.parametrize("rule", ["layers", "no-ui-below-front-ends", "sql-only-in-store",
                                  "no-cycles"])
def test_pyproject_declares_the_contract(rule):
    """`make lint` runs these through import-linter; keep the two descriptions of the rules together."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}
    assert rule in contracts
    if rule == "layers":
        listed = {m.strip("() ") for layer in contracts[rule]["layers"] for m in layer.split("|")}
        assert listed == {g for g in LAYERS if g and g != "__main__"}
