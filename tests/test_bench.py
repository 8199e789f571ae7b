"""The benchmark (`python -m bench`) runs end to end and writes a well-formed report.

Smoke tests at tiny sizes and one repeat, with PyTorch importable and with it made
unimportable; they check the table's shape and the report's sections, never the
timings (a benchmark measures speed; a test must not depend on it).
"""
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import flops
from bench.op_breakdown import KINDS, OTHER
from bench.config import RECIPE, TINY
from bench.timing import interleave

ROOT = Path(__file__).resolve().parents[1]
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_NUMBA = importlib.util.find_spec("numba") is not None
HIDE_TORCH = "import sys; sys.modules['torch'] = None; "  # `import torch` now raises ImportError
GPT_ROWS = ["GPT train step", "forward", "backward", "clip", "optimizer"]
ALL_ROWS = GPT_ROWS + ["200-op chain", "MLP 16-32-4", "peak memory", "process peak RSS", "tracemalloc",
                       "float32 (numpy's BLAS vs torch's)", "GPT step,", "share of its own sgemm peak"]


def run_bench(tmp_path, *args, prelude="", env=None):
    """Run the benchmark's `main` in a fresh interpreter; returns (completed process, report text)."""
    out = tmp_path / "bench.md"
    argv = ["--tiny", "--quick", "--repeats", "1", "--out", str(out), *args]
    code = f"{prelude}from bench.run import main; raise SystemExit(main({argv!r}))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)
    assert done.returncode == 0, done.stderr
    return done, out.read_text()


def results_rows(report):
    """The cells of the '## Results' markdown table, checking its header and separator."""
    section = report.split("## Results\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert lines[0] == "| figure | unit | engine | numba | torch | engine/torch | numba/torch |"
    assert lines[1] == "|---|---|---:|---:|---:|---:|---:|"
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert rows and all(len(r) == 7 for r in rows)
    return rows


def number(cell):
    """A table cell as a float, or None for '—'."""
    return None if cell == "—" else float(cell)


def breakdown_rows(report):
    """{kind: cells} of the per-kind table in '## Where the time goes', checking its header and kinds."""
    section = report.split("## Where the time goes\n", 1)[1]
    table = "| kind of op |" + section.split("| kind of op |", 1)[1].split("\n\n", 1)[0]
    lines = table.splitlines()
    assert lines[0] == ("| kind of op | engine fwd | numba fwd | torch fwd | engine bwd | numba bwd | torch bwd "
                        "| engine − torch | numba − torch |")
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert [r[0] for r in rows] == [kind for kind, _, _ in KINDS] + [OTHER, "**total**"]
    return {r[0]: r[1:] for r in rows}


def find_row(rows, text):
    """The one row whose figure contains `text`."""
    found = [r for r in rows if text in r[0].replace("&nbsp;", "")]
    assert len(found) == 1, (text, [r[0] for r in rows])
    return found[0]


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TORCH, reason="the side-by-side run needs torch")
def test_full_run_with_torch(tmp_path):
    done, report = run_bench(tmp_path)
    rows = results_rows(report)
    for text in ALL_ROWS:
        find_row(rows, text.replace("200", str(TINY.chain_ops)))
    for figure, unit, engine, fast, torch, ratio, fast_ratio in rows:
        if "tracemalloc" in figure:
            assert number(engine) > 0 and fast == torch == ratio == fast_ratio == "—"
            continue
        assert number(engine) >= 0 and number(torch) >= 0, figure
        for value, quotient in ((engine, ratio), (fast, fast_ratio)):
            if value == "—":                                          # numba absent, or a figure it has no part in
                assert quotient == "—" and (not HAS_NUMBA or "memory" in figure or "RSS" in figure
                                            or "sgemm" in figure), figure
                continue
            assert quotient == "—" if number(torch) == 0 else number(quotient) >= 0, figure
            if number(value) >= 1 and number(torch) >= 1:  # shown to 3+ significant figures
                assert number(quotient) == pytest.approx(number(value) / number(torch), rel=0.02, abs=0.01), figure
    assert "Verdict: same computation" in report
    assert ("The same check on the compiled backend (numba)" in report) == HAS_NUMBA
    for section in ("## The compiled backend", "## Where the time goes", "## Method", "## Machine", "## Reproduce"):
        assert section in report
    assert ("numba's first-call cost" in report) == HAS_NUMBA
    table = breakdown_rows(report)
    for kind, (e_fwd, f_fwd, t_fwd, e_bwd, f_bwd, t_bwd, gap, f_gap) in table.items():
        assert min(number(e_fwd), number(t_fwd), number(e_bwd), number(t_bwd)) >= 0, kind
        for fwd, bwd, shown in ((e_fwd, e_bwd, gap), (f_fwd, f_bwd, f_gap)):
            if fwd == "—":
                assert not HAS_NUMBA and shown == "—", kind
                continue
            cells = (fwd, t_fwd, bwd, t_bwd, shown)                   # each rounded to its shown digits
            slack = sum(0.5 * 10.0 ** -len(c.partition(".")[2]) for c in cells)
            assert float(shown) == pytest.approx(number(fwd) + number(bwd) - number(t_fwd) - number(t_bwd),
                                                 abs=slack), kind
    assert f"- torch: {importlib.metadata.version('torch')}" in report
    assert "torch intra-op threads: 2" in report
    for name in ("STEPGRAD_BACKEND", "STEPGRAD_NUM_THREADS", "NUMBA_NUM_THREADS"):  # what changes the speed
        assert re.search(rf"^- {name}: ", report, re.MULTILINE), name
    assert re.search(r"^- engine kernels' threads: \d+$", report, re.MULTILINE)
    assert ("- numba: not installed" in report) != HAS_NUMBA
    assert "GPT train step" in done.stdout  # the table is printed too


@pytest.mark.slow
def test_full_run_without_torch_importable(tmp_path):
    _, report = run_bench(tmp_path, prelude=HIDE_TORCH)
    rows = results_rows(report)
    for text in ALL_ROWS:
        figure, _, engine, _, torch, ratio, fast_ratio = find_row(rows, text.replace("200", str(TINY.chain_ops)))
        assert number(engine) >= 0 and torch == ratio == fast_ratio == "—", figure
    assert "PyTorch was absent" in report
    assert "Not checked: torch was absent." in report
    assert "- torch: absent" in report
    profile = report.split("## Where the time goes", 1)[1].split("\n## ", 1)[0]
    assert "(engine/ops/" in profile  # the profile names the engine's ops
    for kind, (e_fwd, _, t_fwd, e_bwd, _, t_bwd, gap, f_gap) in breakdown_rows(report).items():
        assert number(e_fwd) >= 0 and number(e_bwd) >= 0 and t_fwd == t_bwd == gap == f_gap == "—", kind


def test_env_var_hides_torch_and_only_selects(tmp_path):
    _, report = run_bench(tmp_path, "--only", "tiny", env={"STEPGRAD_BENCH_NO_TORCH": "1"})
    rows = results_rows(report)
    assert [r[0] for r in rows] == [f"{TINY.chain_ops}-op chain on (4) tensors, fwd+bwd, per op"]
    assert rows[0][4] == "—"
    assert "Not profiled" in report
    assert "python -m bench --tiny --quick --repeats 1" in report  # the command to reproduce


def test_unknown_figure_is_a_usage_error(tmp_path):
    code = "from bench.run import main; main(['--only', 'gpt,speed', '--out', 'x.md'])"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert "unknown figure(s) speed" in done.stderr
    assert not (tmp_path / "x.md").exists()


def test_missing_data_file_is_a_one_line_error(tmp_path):
    code = "from bench.run import main; raise SystemExit(main(['--data', 'missing.txt', '--out', 'x.md']))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["bench: data file not found: missing.txt"]
    assert not (tmp_path / "x.md").exists()


def test_unwritable_report_is_a_one_line_error_before_measuring(tmp_path):
    (tmp_path / "blocker").write_text("a file where the report's folder should be")
    code = "from bench.run import main; raise SystemExit(main(['--tiny', '--out', 'blocker/x.md']))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["bench: cannot write to output directory blocker: File exists"]
    assert "measuring" not in done.stdout


@pytest.mark.parametrize("text, message", [(None, "data file not found"), ("short\n", "corpus too short")])
def test_lockstep_bad_data_is_a_one_line_error(tmp_path, capsys, text, message):
    from bench.lockstep import main as lockstep
    if text is not None:
        (tmp_path / "t.txt").write_text(text)
    assert lockstep(["--data", str(tmp_path / "t.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"bench.lockstep: {message}")


def test_interleave_alternates_blocks_after_warmup():
    calls = []
    timings = interleave({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                         repeats=2, number=2, warmup=1)
    assert "".join(calls) == "ab" + "aaabbb" * 2  # warm-up, then per block one untimed call + 2 timed
    assert [len(t.samples) for t in timings.values()] == [2, 2]
    assert all(t.spread[0] <= t.median <= t.spread[1] for t in timings.values())


def test_flop_count_of_the_recipe():
    # per token: 6 * (4*12*128^2 + 128*65) matmul weights + attention 12 * 4 * 64 * 128
    assert flops.gpt_matmul_params(RECIPE, 65) == 794_752
    assert flops.gpt_step_flops(RECIPE, 65) == (6 * 794_752 + 12 * 4 * 64 * 128) * 12 * 64
    assert flops.gemm_flops(1024) == 2 * 1024 ** 3


def test_matmul_weight_count_matches_the_model():
    from bench.gpt_case import build_engine
    model, _ = build_engine(RECIPE, 65)
    matrices = sum(p.size for name, p in model.named_parameters() if p.ndim == 2 and "wpe" not in name)
    assert flops.gpt_matmul_params(RECIPE, 65) == matrices


def test_lockstep_engine_and_torch_take_the_same_steps(tmp_path, capsys):
    pytest.importorskip("torch")
    from bench.lockstep import main as lockstep
    text = "".join(np.random.default_rng(0).choice(list("abcdefgh \n"), 3000))
    (tmp_path / "t.txt").write_text(text)
    assert lockstep(["--data", str(tmp_path / "t.txt"), "--steps", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines[1:-1]]
    assert [r[0] for r in rows] == ["0", "2"]
    for _, ours, theirs in rows:
        assert abs(float(ours) - float(theirs)) < 1e-4
    ours, theirs = (float(v.strip(",")) for v in lines[-1].split()[-3::2])
    assert abs(ours - theirs) < 1e-4


def test_lockstep_torch_only_trains_the_same_torch_side_alone(tmp_path, capsys):
    pytest.importorskip("torch")
    from bench.lockstep import main as lockstep
    text = "".join(np.random.default_rng(0).choice(list("abcdefgh \n"), 3000))
    (tmp_path / "t.txt").write_text(text)
    outputs = []
    for extra in ([], ["--torch-only"]):
        assert lockstep(["--data", str(tmp_path / "t.txt"), "--steps", "3", *extra]) == 0
        outputs.append(capsys.readouterr().out.splitlines())
    both, alone = outputs
    assert alone[0].split() == ["step", "torch", "loss"]  # no engine column, rather than one of nan
    assert [line.split() for line in alone[1:-1]] == [[line.split()[0], line.split()[2]] for line in both[1:-1]]
    assert alone[-1].split()[-1] == both[-1].split()[-1] and "engine" not in alone[-1]

def word_list(n_words, seed=0):
    """Made-up names: two to four syllables each, one per line."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "li", "mo", "ra", "ne", "so", "ta", "vi", "el", "an", "jo", "ur"]
    return "".join("".join(rng.choice(syllables, rng.integers(2, 5))) + "\n" for _ in range(n_words))


def test_mlp_lockstep_agrees_with_the_lectures_pytorch_mlp_to_four_decimals():
    torch = pytest.importorskip("torch")
    from bench.lockstep import makemore_split, run_mlp
    from models.data import CharDataset
    ds = CharDataset.from_words(*makemore_split(word_list(2000)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: as bench.lockstep runs them
    try:
        losses, final = run_mlp(torch, ds, steps=300, seed=0, report=lambda line: None)
    finally:
        torch.set_num_threads(threads)
    ours, theirs = np.array(losses).T
    assert ours[0] == pytest.approx(np.log(ds.tokenizer.vocab_size), abs=0.05)  # makemore's init
    assert ours[-1] < ours[0] - 0.5  # it learned
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=5e-5)  # every one of the 300 steps, to four decimals
    for split in ("train", "dev"):
        assert final[split][0] == pytest.approx(final[split][1], abs=5e-5), split


def test_op_breakdown_times_each_kind_and_puts_the_op_rules_back():
    from bench import gpt_case, op_breakdown
    from engine.ops import OPS
    rules = {(op, attr): op.__dict__.get(attr) for op in OPS for attr in ("forward", "backward")}
    batches, vocab = gpt_case.make_batches(TINY)
    model, opt = gpt_case.build_engine(TINY, vocab)
    step = gpt_case.engine_step(model, opt, batches, TINY.grad_clip)
    found = op_breakdown.engine_breakdown(step, 2)
    assert {(op, attr): op.__dict__.get(attr) for op, attr in rules} == rules
    for phase in op_breakdown.PHASES:
        assert list(found[phase]) == [kind for kind, _, _ in KINDS] + [OTHER]
        assert all(ms > 0 for kind, ms in found[phase].items() if kind != OTHER), phase


def test_wake_latency_is_measured_where_threads_can_be_pinned():
    from bench.wakeup import wake_latency
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    for same_core in (True, False):
        found = wake_latency(same_core, rounds=20)
        assert (found is not None and 0 < found < 1) if len(cores) >= 2 else found is None
        if cores:
            assert os.sched_getaffinity(0) == cores  # the caller's cores are given back
