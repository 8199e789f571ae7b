"""The recipes of docs/architecture.md work as written: applied to a scratch copy of the
repository, they touch only the files they name, and the tests they say to run pass.

A recipe is a section of the page. Its ```python blocks name their file: `file=PATH`
appends the block to that file (a new file is just the block), `file=PATH
after=Class.method` inserts it after that definition (ast finds it). Its ```diff blocks
(`--- a/PATH`, `+++ b/PATH`, hunks after `@@` lines) edit inside a file: each hunk's
context and `-` lines must occur exactly once, in that order, and its `+` lines go
where the diff shows them; hunks carry no line numbers, so a recipe survives edits
elsewhere in the file. Its ```bash blocks are commands, run in the copy's root in
order (`python` meaning this interpreter); every one must succeed. The files it may
change are the repository paths it names in backticks. A new recipe is one more row of
`RECIPES`.
"""
import ast
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_docs import flag_value, parse_blocks

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"
COPIED = ["engine", "optim", "models", "bench", "tests", "docs", "pyproject.toml", "README.md"]
SCRATCH = shutil.ignore_patterns("__pycache__", ".hypothesis", ".pytest_cache", "*.egg-info")

RECIPES = {  # id: the heading of its section in docs/architecture.md
    "op": "How to add an op",
    "optimizer": "How to add an optimizer",
}


def section(heading):
    """The markdown text of the section under `## heading`."""
    text = PAGE.read_text(encoding="utf-8")
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def target(block):
    """The repository file a recipe block goes in (its `file=` flag, a diff's `+++ b/PATH`), or None."""
    if block.lang == "diff":
        return next(line[len("+++ b/"):] for line in block.text.splitlines() if line.startswith("+++ b/"))
    return flag_value(block, "file")


def recipe_blocks(heading):
    """The fenced blocks of one recipe's section, in order (python file snippets, diffs and bash commands)."""
    return [b for b in parse_blocks(section(heading), PAGE.name)
            if (b.lang == "python" and target(b)) or b.lang in ("diff", "bash")]


def named_paths(heading):
    """The repository paths a recipe names in backticks (files that exist, or that its blocks create)."""
    text = section(heading)
    found = {p for p in re.findall(r"`([\w./-]+\.(?:py|md|toml))`", text)}
    found |= {target(b) for b in recipe_blocks(heading) if target(b)}
    return found


def insert_after(source, qualname, snippet):
    """`source` with `snippet` inserted right after the definition `qualname` ('Class.method' or 'name')."""
    tree = ast.parse(source)
    scope, node = tree, None
    for part in qualname.split("."):
        node = next((n for n in ast.iter_child_nodes(scope) if getattr(n, "name", None) == part), None)
        assert node is not None, f"no definition {qualname} to insert after"
        scope = node
    lines = source.splitlines(keepends=True)
    return "".join(lines[:node.end_lineno]) + snippet + "".join(lines[node.end_lineno:])


def apply_diff(source, diff):
    """`source` with a diff block's hunks applied (see the module docstring)."""
    content, hunks = source.splitlines(), []
    for line in diff.splitlines():
        if line.startswith(("--- ", "+++ ")):
            continue
        if line.startswith("@@"):
            hunks.append([])
        else:
            hunks[-1].append(line)
    for hunk in hunks:
        old = [line[1:] for line in hunk if line[:1] in (" ", "-")]
        new = [line[1:] for line in hunk if line[:1] in (" ", "+")]
        places = [i for i in range(len(content) - len(old) + 1) if content[i:i + len(old)] == old]
        assert len(places) == 1, f"a hunk's context {old} occurs {len(places)} times, not once"
        content[places[0]:places[0] + len(old)] = new
    return "\n".join(content) + "\n"


def apply_block(root, block):
    """Write one python or diff block into its file, or run one bash block's commands; returns the runs."""
    if block.lang in ("python", "diff"):
        path = root / target(block)
        flags = dict(f.split("=", 1) for f in block.flags if "=" in f)
        source = path.read_text(encoding="utf-8") if path.exists() else ""
        if block.lang == "diff":
            source = apply_diff(source, block.text)
        elif "after" in flags:
            source = insert_after(source, flags["after"], block.text)
        else:
            source = (source.rstrip("\n") + "\n\n\n" if source.strip() else "") + block.text
        path.write_text(source, encoding="utf-8")
        return []
    runs = []
    for line in block.text.replace("\\\n", " ").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        argv = shlex.split(line)
        argv = [sys.executable] + argv[1:] if argv[0] == "python" else argv
        env = {**os.environ, "PYTHONPATH": str(root), "STEPGRAD_OFFLINE": "1"}
        runs.append((line, subprocess.run(argv, cwd=root, capture_output=True, text=True, env=env, timeout=1200)))
    return runs


def fingerprint(root):
    """{relative path: sha256} of every file of the copy (caches left out)."""
    out = {}
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if path.is_file() and not any(p in ("__pycache__", ".hypothesis", ".pytest_cache") for p in parts):
            out["/".join(parts)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def scratch_copy(tmp_path):
    """A copy of the repository's packages, tests and docs in tmp_path."""
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=SCRATCH)
        else:
            shutil.copy2(src, tmp_path / name)
    return tmp_path


def test_the_copy_imports_its_own_packages(tmp_path):
    """PYTHONPATH puts the scratch copy before this checkout (an editable install included)."""
    root = scratch_copy(tmp_path)
    done = subprocess.run([sys.executable, "-c", "import optim, engine; print(optim.__file__, engine.__file__)"],
                          cwd=root, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root)})
    assert done.stdout.split() == [str(root / "optim" / "__init__.py"), str(root / "engine" / "__init__.py")]


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_applies_as_written_and_touches_only_the_files_it_names(recipe, tmp_path):
    heading = RECIPES[recipe]
    blocks = recipe_blocks(heading)
    assert any(b.lang == "python" for b in blocks) and any(b.lang == "bash" for b in blocks), (
        f"'{heading}' needs ```python file=... blocks and a ```bash block of commands")
    root = scratch_copy(tmp_path)
    before = fingerprint(root)
    for block in blocks:
        for line, done in apply_block(root, block):
            assert done.returncode == 0, f"'{heading}': `{line}` failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    after = fingerprint(root)
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    named = named_paths(heading)
    assert changed <= named, f"'{heading}' changed files it does not name: {sorted(changed - named)}"
    assert {target(b) for b in blocks if target(b)} <= changed


@pytest.mark.slow
def test_an_op_without_its_row_fails_one_test_named_for_it(tmp_path):
    """Step 1 of the op recipe alone: the suite still collects, and names the missing case."""
    root = scratch_copy(tmp_path)
    first = next(b for b in recipe_blocks(RECIPES["op"]) if target(b) == "engine/ops/elementwise.py")
    apply_block(root, first)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_ops.py",
                           "tests/test_trace.py", "-k", "Sin", "-rf"], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=600)
    failed = re.findall(r"^FAILED (\S+)", done.stdout, re.M)
    assert failed == ["tests/test_ops.py::test_every_op_has_a_case[Sin]"], done.stdout[-3000:]


@pytest.mark.slow
def test_an_optimizer_without_its_row_fails_one_test_named_for_it(tmp_path):
    """The optimizer recipe without its test row: the suite still collects, and names what is missing."""
    root = scratch_copy(tmp_path)
    for block in recipe_blocks(RECIPES["optimizer"]):
        if target(block) in ("optim/adadelta.py", "optim/registry.py", "docs/optimizers.md"):
            apply_block(root, block)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_optim.py",
                           "-k", "adadelta", "-rf"], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=1200)
    failed = re.findall(r"^FAILED (\S+)", done.stdout, re.M)
    assert failed == ["tests/test_optim.py::test_every_optimizer_has_a_row[adadelta]"], done.stdout[-3000:]
