"""The engine's layers hold: no module imports from a layer above its own, and `import engine`
works whatever order `engine/__init__.py` imports its modules in.

The layer list is read from docs/architecture.md ("The layers": a numbered list, one
layer per item, naming its files and folders in backticks), so the page and the code
cannot drift apart. The one import that goes up is the statement marked
`# the one late import`; there must be exactly one.
"""
import ast
import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "engine"
LATE_MARK = "# the one late import"


def documented_layers():
    """[[path, ...], ...] from the numbered list under '## The layers' in docs/architecture.md, lowest first."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("\n## The layers\n", 1)[1].split("\n## ", 1)[0]
    layers = [re.findall(r"`(engine/[^`]*)`", line) for line in section.splitlines() if re.match(r"\d+\. ", line)]
    assert layers and all(layers), "docs/architecture.md: '## The layers' needs a numbered list of engine paths"
    return layers


LAYERS = documented_layers()


def module_name(path):
    """'engine.ops.base' for engine/ops/base.py, 'engine.ops' for engine/ops/__init__.py."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ENGINE.rglob("*.py")) if "__pycache__" not in p.parts}
OPTIONAL = {"engine.kernels.numba_loops"}  # needs numba (the `fast` extra); the engine imports it on first use only


def layer_of(module):
    """The index in LAYERS of the entry naming the module's file or, failing that, its deepest folder."""
    rel = MODULES[module].relative_to(ROOT).as_posix()
    matches = [(len(entry), i) for i, entries in enumerate(LAYERS) for entry in entries
               if entry == rel or (entry.endswith("/") and rel.startswith(entry))]
    return max(matches)[1] if matches else None


def engine_imports(module):
    """[(imported engine module, line, module level?, marked as the late import?)] of one module."""
    path = MODULES[module]
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    top_level = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}:{node.lineno}: use absolute imports (from engine.x import y)"
            targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                       for a in node.names]
        else:
            continue
        marked = LATE_MARK in lines[node.lineno - 1]
        for target in dict.fromkeys(targets):
            if target == "engine" or target.startswith("engine."):
                found.append((target, node.lineno, id(node) in top_level, marked))
    return found


def test_every_engine_module_is_in_a_layer():
    unlisted = [m for m in MODULES if layer_of(m) is None]
    assert not unlisted, f"add these modules to the layer list in docs/architecture.md: {unlisted}"


@pytest.mark.parametrize("module", MODULES)
def test_no_import_from_a_layer_above(module):
    mine = layer_of(module)
    assert mine is not None, f"{module} is in no layer of docs/architecture.md's list"
    upward = [(target, line) for target, line, _, marked in engine_imports(module)
              if target in MODULES and not marked and (layer_of(target) or 0) > mine]
    assert not upward, (f"{module} (layer {mine + 1}) imports from layers above it: "
                        + ", ".join(f"{t} (layer {layer_of(t) + 1}) at line {line}" for t, line in upward))


def test_there_is_one_declared_late_import():
    marked = {(m, line) for m in MODULES for _, line, _, is_marked in engine_imports(m) if is_marked}
    assert len(marked) == 1, f"expected exactly one import marked '{LATE_MARK}', found {sorted(marked)}"


def test_module_level_imports_form_no_cycle_apart_from_the_late_import():
    graph = {m: {t for t, _, top, marked in engine_imports(m) if top and not marked and t in MODULES} for m in MODULES}
    state, path = {}, []

    def visit(m):
        state[m] = "open"
        path.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == "open":
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(t):] + [t]))
            if t not in state:
                visit(t)
        path.pop()
        state[m] = "done"

    for m in MODULES:
        if m not in state:
            visit(m)


# ----- line length ---------------------------------------------------------------------
MAX_LINE = 120
SOURCE_FOLDERS = ("engine", "optim", "models", "bench", "tests", "docs")


def test_no_source_line_is_longer_than_the_limit():
    long = [f"{path.relative_to(ROOT)}:{number} ({len(line)})"
            for folder in SOURCE_FOLDERS for path in sorted((ROOT / folder).rglob("*.py"))
            if "__pycache__" not in path.parts
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if len(line) > MAX_LINE]
    assert not long, f"lines longer than {MAX_LINE} characters: {', '.join(long)}"


# ----- the reading order ----------------------------------------------------------------
def test_the_reading_order_is_as_long_as_it_says_and_holds_no_machine_code():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("\n### Reading the core in an evening\n", 1)[1].split("\n**", 1)[0]
    order = section.split("\n1. ", 1)[1].split("\n\n", 1)[0]
    files = re.findall(r"`(engine/[\w/]+\.py)`", order)
    lines = sum(len((ROOT / f).read_text(encoding="utf-8").splitlines()) for f in files)
    stated = int(re.search(r"([\d,]+) lines", section).group(1).replace(",", ""))
    assert lines == stated, f"docs/architecture.md says the reading order is {stated} lines; it is {lines}"
    assert lines <= 1400
    machine = re.compile(r"\bthreading\b|ThreadPool|\bctypes\b|mallopt|for_blocks|openblas", re.I)
    for f in files:
        found = machine.search((ROOT / f).read_text(encoding="utf-8"))
        assert not found, f"{f} holds machine code ({found.group(0)}): move it into engine/kernels/"


# ----- import order -------------------------------------------------------------------
def init_import_blocks():
    """(text before the imports, [import statements' source], the text after them) of engine/__init__.py."""
    source = (ENGINE / "__init__.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    lines = source.splitlines(keepends=True)
    first, last = imports[0].lineno - 1, imports[-1].end_lineno
    between = [n for n in tree.body if first < n.lineno - 1 < last and n not in imports]
    assert not between, "engine/__init__.py: keep its imports together, before any other statement"
    blocks = ["".join(lines[n.lineno - 1:n.end_lineno]) for n in imports]
    return "".join(lines[:first]), blocks, "".join(lines[last:])


def import_order_variants():
    """{variant name: the text of an engine/__init__.py importing in another order}."""
    head, blocks, tail = init_import_blocks()
    variants = {f"{m} first": head + f"import {m}\n" + "".join(blocks) + tail for m in MODULES
                if m != "engine" and m not in OPTIONAL}
    variants["reversed"] = head + "".join(reversed(blocks)) + tail
    for seed in range(4):
        shuffled = blocks[:]
        random.Random(seed).shuffle(shuffled)
        variants[f"shuffled {seed}"] = head + "".join(shuffled) + tail
    return variants


VARIANTS = import_order_variants()

# Imports each variant's copy of the engine in turn (forgetting the previous one), then uses it.
PROBE = """
import json, sys
results = {}
for name, root in json.loads(sys.argv[1]).items():
    for mod in [m for m in sys.modules if m == "engine" or m.startswith("engine.")]:
        del sys.modules[mod]
    sys.path.insert(0, root)
    try:
        import engine
        assert engine.__file__.startswith(root), engine.__file__
        x = engine.Tensor([1.0, 2.0], requires_grad=True)
        (engine.functional.gelu(x) * x).sum().backward()
        results[name] = None
    except Exception as e:
        results[name] = f"{type(e).__name__}: {e}"
    sys.path.remove(root)
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def import_results(tmp_path_factory):
    base = tmp_path_factory.mktemp("import_orders")
    roots = {}
    for k, (name, text) in enumerate(VARIANTS.items()):
        root = base / f"v{k}"
        shutil.copytree(ENGINE, root / "engine", ignore=shutil.ignore_patterns("__pycache__"))
        (root / "engine" / "__init__.py").write_text(text, encoding="utf-8")
        roots[name] = str(root)
    # numpy kernels: a compiled backend would compile its loops anew for each copy's path (numba's cache is per file)
    env = {**os.environ, "STEPGRAD_BACKEND": "numpy"}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(roots)], capture_output=True, text=True,
                          cwd=base, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("variant", VARIANTS)
def test_import_engine_works_in_any_order(variant, import_results):
    assert import_results[variant] is None, f"engine/__init__.py importing {variant}: {import_results[variant]}"
