"""The docs cannot rot: their code runs, their printed output is what the page shows,
their links resolve, and the generated reference matches the live packages.

Conventions (stated for writers in docs/index.md):
- every ```python block of a page runs, in order, in one namespace per page, in a
  temporary working directory; ```python no-run blocks are skipped; a
  ```python file=NAME block is a file for the reader to save: it is written to NAME
  in that directory, not run;
- a ```text block right after a code block (only blank lines between) is that block's
  output: the test compares it with what the code printed;
- a ```bash line that starts with `stepgrad` must parse with the command line's own
  parser, and runs (its output compared) when a ```text block follows it; it must exit
  with status 0, or N in a ```bash exit=N block.
"""
import contextlib
import importlib.util
import io
import re
import shlex
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
MAX_SECONDS_PER_PAGE = 10.0  # of this process's CPU time: the machine may be shared, wall time is not ours


@dataclass
class Block:
    """One fenced block of a Markdown page."""
    lang: str
    flags: tuple
    text: str
    line: int          # line number of the opening fence
    output: str = None  # the ```text block that follows it, if any


def read_blocks(path):
    """The fenced blocks of `path`, each code block paired with the output block after it."""
    return parse_blocks(path.read_text(encoding="utf-8"), path.name)


def parse_blocks(text, name):
    """The fenced blocks of markdown `text` (from the page `name`), as `read_blocks` gives them."""
    blocks, lines, i = [], text.splitlines(), 0
    previous_end = None
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*(.*)$", lines[i])
        if not m:
            if lines[i].strip():
                previous_end = None
            i += 1
            continue
        start = i
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"{name}:{start + 1}: unclosed ``` block")
        block = Block(m.group(1), tuple(m.group(2).split()), "\n".join(body) + "\n", start + 1)
        if block.lang == "text" and previous_end is not None and blocks and blocks[-1].lang in ("python", "bash"):
            blocks[-1].output = block.text
        else:
            blocks.append(block)
        previous_end = i
        i += 1
    return blocks


def normalize(text):
    """Output compared line by line, without trailing spaces or trailing blank lines."""
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def stepgrad_commands(block):
    """The argument lists of the `stepgrad ...` lines of a bash block (continuations joined)."""
    text = block.text.replace("\\\n", " ")
    cmds = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("stepgrad ") or line == "stepgrad":
            cmds.append(shlex.split(line, comments=True)[1:])
    return cmds


def flag_value(block, name):
    """The value of a `name=value` flag after a block's fence (None without one)."""
    return next((flag.split("=", 1)[1] for flag in block.flags if flag.startswith(name + "=")), None)


def page_id(path):
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_code_blocks_run_and_print_what_the_page_shows(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    start = time.process_time()
    for block in read_blocks(page):
        where = f"{page_id(page)}:{block.line}"
        saved_as = flag_value(block, "file")
        if block.lang == "python" and saved_as:  # a file's text: saved in the page's directory, never run
            Path(saved_as).parent.mkdir(parents=True, exist_ok=True)
            Path(saved_as).write_text(block.text, encoding="utf-8")
            continue
        if block.lang == "python" and "no-run" not in block.flags:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(block.text, where, "exec"), namespace)
        elif block.lang == "bash" and block.output is not None:
            out = io.StringIO()
            from models.cli import main
            status = int(flag_value(block, "exit") or 0)
            with contextlib.redirect_stdout(out):
                for argv in stepgrad_commands(block):
                    assert main(argv) == status, f"{where}: stepgrad {' '.join(argv)} did not exit with {status}"
        else:
            continue
        if block.output is not None:
            assert normalize(out.getvalue()) == normalize(block.output), (
                f"{where}: the output shown on the page differs from what the code prints:\n"
                f"{out.getvalue()}")
    elapsed = time.process_time() - start
    assert elapsed < MAX_SECONDS_PER_PAGE, f"{page_id(page)}: code blocks took {elapsed:.1f} s of CPU"


def test_every_stepgrad_command_in_the_docs_parses():
    from models.cli import build_parser
    parser = build_parser()
    found = 0
    for page in PAGES:
        for block in read_blocks(page):
            if block.lang != "bash":
                continue
            for argv in stepgrad_commands(block):
                found += 1
                try:
                    parser.parse_args(argv)
                except SystemExit as exc:
                    pytest.fail(f"{page_id(page)}:{block.line}: `stepgrad {' '.join(argv)}` does not parse ({exc})")
    assert found > 0


def github_anchor(heading):
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    """Every heading anchor of a page (outside code blocks)."""
    found, in_code = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            found.add(github_anchor(line.lstrip("#")))
    return found


def links(path):
    """(line number, target) of every Markdown link and image outside code blocks."""
    out, in_code = [], False
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        line = re.sub(r"`[^`]*`", "", line)
        out.extend((n, target) for target in re.findall(r"\]\(([^)\s]+)\)", line))
    return out


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_links_and_pictures_resolve(page):
    for n, target in links(page):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        assert dest.exists(), f"{page_id(page)}:{n}: link to {target} points at nothing"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{page_id(page)}:{n}: no heading #{anchor} in {dest.name}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_cited_tests_exist(page):
    text = page.read_text(encoding="utf-8")
    for path, name in re.findall(r"(tests/test_\w+\.py)::(test_\w+)", text):
        source = ROOT / path
        assert source.exists(), f"{page_id(page)} cites {path}, which does not exist"
        assert re.search(rf"^def {name}\(", source.read_text(encoding="utf-8"), re.M), (
            f"{page_id(page)} cites {path}::{name}, which does not exist")


def _make_reference():
    spec = importlib.util.spec_from_file_location("make_reference", DOCS / "make_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_is_up_to_date_and_every_public_name_is_documented():
    make_reference = _make_reference()
    text, missing = make_reference.render()
    assert not missing, f"public names without a docstring: {', '.join(missing)}"
    assert (DOCS / "reference.md").read_text(encoding="utf-8") == text, (
        "docs/reference.md is stale: run `python docs/make_reference.py`")


def test_reference_generator_notices_a_missing_docstring(monkeypatch):
    make_reference = _make_reference()
    fake = types.ModuleType("fake_documented_package", "A package with one undocumented function.")

    def undocumented():
        pass

    def documented():
        """Has a docstring."""

    fake.__all__ = ["undocumented", "documented"]
    fake.undocumented, fake.documented = undocumented, documented
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    rows, missing = make_reference.entries(fake.__name__)
    assert missing == ["fake_documented_package.undocumented"]
    assert len(rows) == 2


def test_an_output_block_belongs_to_the_code_right_before_it(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\nprint(1 + 1)\n```\n\n```text\n2\n```\n\n"
                    "```python\nx = 1\n```\nSome prose.\n```text\nnot output\n```\n", encoding="utf-8")
    first, second, prose_text = read_blocks(page)
    assert first.output == "2\n"
    assert second.output is None and prose_text.lang == "text"
