"""Hostile checkpoints: `stepgrad sample` and `stepgrad train --resume` refuse each in one line, fast and small.

A checksum only catches accidents, so every case here is a checkpoint an attacker
could make: a real one with its metadata or tensors edited and the checksum
recomputed (`save_checkpoint` does that), or a safetensors file whose header lies.
Each must end the command with a one-line error naming the problem, within a
second, without the process's peak memory growing by more than a few MB, and
without changing anything in the run's folder.

All cases of a command run in one subprocess (`DRIVER`), which imports everything
first, then runs each case through `models.cli.main` and reports its exit status,
stderr, time and how far it raised the peak resident memory (Linux's VmHWM,
reset before each case).
"""

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import checkpoint as ckpt
from models.checkpoint import load_checkpoint, save_checkpoint
from models.train import make_config, train

ROOT = Path(__file__).resolve().parent.parent
CORPUS = "".join(f"{w} " for w in "to be or not to be that is the question whether tis nobler in the mind".split() * 60)
TINY_GPT = dict(n_layer=1, n_head=2, n_embd=16, block_size=8, batch_size=4)
# CPU seconds per refusal: a normal one takes well under 0.1 s, the failures 98 s and more than
# 60 s. CPU time, far from both, so that the check does not depend on how busy the machine is.
MAX_SECONDS = 5.0
MAX_GROWTH = 8 * 2**20  # of the peak resident memory, per case, or
GROWTH_PER_BYTE = 5  # this many times the file's size when that is more (parsing a header of several MB)

DRIVER = r"""
import contextlib, io, json, os, sys, time
import models.checkpoint_meaning, models.sizes, models.train, models.trained
from models.cli import main

def status(key):  # VmRSS (now) or VmHWM (peak since the last reset), in bytes
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

def reset_peak():  # Linux: writing 5 to clear_refs resets VmHWM to the current resident size
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

def run(argv, cwd):
    os.chdir(cwd)
    err = io.StringIO()
    start = time.process_time()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue(), time.process_time() - start

cases = json.loads(sys.argv[1])
run(cases[0]["argv"], cases[0]["cwd"])  # warm up: first calls fill caches
results = {}
for case in cases:
    reset_peak()
    base = status("VmRSS")
    code, stderr, seconds = run(case["argv"], case["cwd"])
    results[case["name"]] = {"code": code, "stderr": stderr, "seconds": seconds,
                             "growth": status("VmHWM") - base}
print(json.dumps(results))
"""


def drive(cases):
    """Run `cases` ([{name, argv, cwd}]) in one fresh process; return their results by name."""
    # numpy's kernels: the refusals are timed, and the compiled backend's one-time start (importing numba,
    # compiling its loops or reading them from its cache) would be charged to whichever case first computes
    env = dict(os.environ, PYTHONPATH=str(ROOT), STEPGRAD_BACKEND="numpy")
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(cases)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


# ----------------------------------------------------------------- making them

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real two-step runs, a bigram and a GPT: {kind: out folder}."""
    base = tmp_path_factory.mktemp("runs")
    corpus = base / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    outs = {"bigram": base / "bigram", "gpt": base / "gpt"}
    quiet = dict(progress=False, echo=lambda line: None)
    train(make_config("bigram", data=str(corpus), out=str(outs["bigram"]), steps=2, batch_size=4, block_size=8,
                      eval_interval=0), **quiet)
    train(make_config("gpt", data=str(corpus), out=str(outs["gpt"]), steps=2, eval_interval=0, **TINY_GPT), **quiet)
    return outs


def edited(source, target, edit):
    """Save the checkpoint at `source` to `target` after `edit(tensors, meta)`, with a recomputed checksum."""
    tensors, meta = load_checkpoint(source)
    tensors = {name: array.copy() for name, array in tensors.items()}
    edit(tensors, meta)
    save_checkpoint(target, tensors, meta)


def raw(target, header, data=b"", size=None):
    """Write a safetensors file from a header (a dict, or JSON text as str/bytes) and data bytes."""
    if isinstance(header, dict):
        header = json.dumps(header)
    if isinstance(header, str):
        header = header.encode("utf-8")
    Path(target).write_bytes(struct.pack("<Q", len(header) if size is None else size) + header + data)


def with_meta_text(source, target, meta_text):
    """The checkpoint at `source` with its metadata JSON replaced by `meta_text` and the checksum recomputed."""
    tensors, _ = load_checkpoint(source)
    metadata = {ckpt.META_KEY: meta_text, ckpt.FORMAT_KEY: "1", ckpt.CHECKSUM_KEY: ckpt._checksum(meta_text, tensors)}
    header, data, offset = {"__metadata__": metadata}, b"", 0
    for name in sorted(tensors):
        array = tensors[name]
        header[name] = {"dtype": ckpt._SAFETENSORS_NAMES[array.dtype.name], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        data += array.tobytes()
        offset += array.nbytes
    raw(target, header, data)


def set_config(**fields):
    return lambda tensors, meta: meta["model_config"].update(fields)


def scale_weights(value):
    def edit(tensors, meta):
        tensors["model.transformer.wte.weight"][0, 0] = value
    return edit


def tokenizer_of(n, vocab_size=None):
    def edit(tensors, meta):
        meta["tokenizer"]["chars"] = "".join(chr(0x4E00 + i) for i in range(n))
        if vocab_size:
            meta["model_config"]["vocab_size"] = vocab_size
    return edit


def drop(name):
    return lambda tensors, meta: tensors.pop(name)


def add(name, array):
    return lambda tensors, meta: tensors.__setitem__(name, array)


def retype(name, dtype):
    def edit(tensors, meta):
        tensors[name] = tensors[name].astype(dtype)
    return edit


def set_meta(**fields):
    return lambda tensors, meta: meta.update(fields)


GPT_EDITS = {  # name: (edit of the GPT checkpoint, what the error must say)
    "vocab_size 3e7": (set_config(vocab_size=30_000_000), "vocabulary of 30000000 but its tokenizer has 17"),
    "vocab_size 3e7 as a float": (set_config(vocab_size=3e7), "vocab_size 30000000.0 is not a positive integer"),
    "n_layer 1e7": (set_config(n_layer=10_000_000), "does not match its weights"),
    "n_layer as a 4000-digit number": (set_config(n_layer=10 ** 3999), "does not match its weights"),
    "n_head 0": (set_config(n_head=0), "n_head 0 is not a positive integer"),
    "n_head that does not divide n_embd": (set_config(n_head=3), "n_embd 16 is not a multiple of n_head 3"),
    "n_embd true": (set_config(n_embd=True), "n_embd True is not a positive integer"),
    "block_size 1e12": (set_config(block_size=10 ** 12), "transformer.wpe.weight of shape (1000000000000, 16)"),
    "negative dropout": (set_config(dropout=-0.5), "dropout -0.5 is not a probability"),
    "infinite dropout": (set_config(dropout=float("inf")), "dropout inf is not a probability"),
    "unknown gelu": (set_config(gelu_approximate="exact"), "gelu_approximate 'exact' is not 'none' or 'tanh'"),
    "unknown config field": (set_config(n_expert=8), "unknown field 'n_expert'"),
    "config that is a list": (set_meta(model_config=[1, 2]), "has no model config"),
    "tokenizer of 500 characters, 17-row embedding": (tokenizer_of(500), "tokenizer has 500 characters"),
    "tokenizer and config of 500, 17-row embedding": (tokenizer_of(500, 500), "does not match its weights"),
    "tokenizer that is a number": (set_meta(tokenizer=7), "has no usable tokenizer"),
    "tokenizer with a repeated character": (lambda t, m: m["tokenizer"].update(chars="aab"), "must be distinct"),
    "NaN weights": (scale_weights(np.nan), "model.transformer.wte.weight holds NaN"),
    "infinite weights": (scale_weights(np.inf), "holds infinite values"),
    "integer weights": (retype("model.transformer.ln_f.weight", np.int32), "not floating-point weights"),
    "a weight missing": (drop("model.transformer.ln_f.weight"), "model.transformer.ln_f.weight, which the file"),
    "an extra weight": (add("model.extra", np.zeros(3, np.float32)), "model.extra, which the config does not"),
    "unknown model kind": (set_meta(kind="transformer"), "holds no language model (kind 'transformer'"),
}


def bigram_source(runs):
    return runs["bigram"] / "checkpoint.safetensors"


def header_of(source):
    raw_bytes = Path(source).read_bytes()
    (size,) = struct.unpack("<Q", raw_bytes[:8])
    return json.loads(raw_bytes[8:8 + size]), raw_bytes[8 + size:]


def table_edit(edit):
    """A raw case: the bigram checkpoint's header as a dict, changed by `edit(header)`, over the same data."""
    def make(source, target):
        header, data = header_of(source)
        edit(header)
        raw(target, header, data)
    return make


def first_tensor(header):
    return header[sorted(k for k in header if k != "__metadata__")[0]]


def deep_json(depth):
    return '{"kind":"bigram","x":' + "[" * depth + "]" * depth + "}"


RAW_CASES = {  # name: (make(source, target), what the error must say)
    "header length 2**63": (lambda s, t: raw(t, b"{}", size=2 ** 63), "its header claims 9,223,372,036,854,775,808"),
    "header of 9 MB": (lambda s, t: raw(t, b" " * (9 * 2**20)), "more than the 8,388,608 a checkpoint may have"),
    "file of 5 bytes": (lambda s, t: Path(t).write_bytes(b"\x01\x02\x03\x04\x05"), "shorter than 8 bytes"),
    "header that is not UTF-8": (lambda s, t: raw(t, b'{"a\xff": 1}'), "not a valid safetensors file"),
    "header that is a list": (lambda s, t: raw(t, b"[1, 2]"), "its header is not a JSON object"),
    "repeated tensor name": (lambda s, t: raw(t, '{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
                                                 '"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}',
                                              b"\0" * 8), "the key 'w' appears twice"),
    "overlapping tensors": (table_edit(lambda h: _overlap(h)), "overlaps another"),
    "tensor past the end": (lambda s, t: raw(t, {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}},
                                             b"\0" * 8), "its tensors take 16 bytes of data; the file holds 8"),
    "shape that disagrees with the bytes": (table_edit(lambda h: first_tensor(h)["shape"].append(2)),
                                            "does not fill its"),
    "shape whose size overflows 64 bits": (table_edit(lambda h: first_tensor(h).update(shape=[2**64, 2**64])),
                                           "does not fill its"),
    "negative dimension": (table_edit(lambda h: first_tensor(h).update(shape=[-1])), "is not a list of counts"),
    "bfloat16 tensor": (table_edit(lambda h: first_tensor(h).update(dtype="BF16")), "dtype 'BF16'"),
    "metadata 100,000 levels deep": (lambda s, t: with_meta_text(s, t, deep_json(100_000)),
                                     "nests JSON deeper than 64 levels"),
    "metadata of 2 million values": (lambda s, t: with_meta_text(s, t, '{"x":[' + "0," * 2_000_000 + "0]}"),
                                     "more than 1,000,000 JSON values"),
    "repeated key in the metadata": (lambda s, t: with_meta_text(s, t, '{"kind":"gpt","kind":"bigram"}'),
                                     "the key 'kind' appears twice"),
    "a 5000-digit number in the metadata": (lambda s, t: with_meta_text(s, t, '{"step":' + "9" * 5000 + "}"),
                                            "damaged metadata (metadata holds a number of more than 4,300 digits)"),
    "checksum that is not hex": (table_edit(lambda h: h["__metadata__"].update({ckpt.CHECKSUM_KEY: "zz"})),
                                 "no checksum"),
}


def _overlap(header):
    """Make the second tensor start 4 bytes inside the first."""
    names = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])
    second = header[names[1]]
    second["data_offsets"] = [second["data_offsets"][0] - 4, second["data_offsets"][1] - 4]


@pytest.fixture(scope="module")
def sample_results(runs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile-sample")
    made = {}
    for i, (name, (edit, _)) in enumerate(GPT_EDITS.items()):
        made[name] = folder / f"edit{i}.safetensors"
        edited(runs["gpt"] / "checkpoint.safetensors", made[name], edit)
    for i, (name, (make, _)) in enumerate(RAW_CASES.items()):
        made[name] = folder / f"raw{i}.safetensors"
        make(bigram_source(runs), made[name])
    cases = [{"name": "warm-up", "argv": ["sample", "--checkpoint", "missing.safetensors"], "cwd": str(folder)}]
    cases += [{"name": name, "argv": ["sample", "--checkpoint", str(path), "--tokens", "5"], "cwd": str(folder)}
              for name, path in made.items()]
    results = drive(cases)
    for name, path in made.items():
        results[name]["size"] = path.stat().st_size
    return results


def assert_refused(result, problem):
    assert result["code"] == 1, result
    lines = result["stderr"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stepgrad: error: "), result["stderr"]
    assert problem in lines[0], lines[0]
    assert result["seconds"] < MAX_SECONDS, result
    allowed = max(MAX_GROWTH, GROWTH_PER_BYTE * result["size"])
    assert result["growth"] < allowed, f"peak memory grew by {result['growth'] / 2**20:.1f} MB"


@pytest.mark.parametrize("name", [*GPT_EDITS, *RAW_CASES])
def test_sample_refuses_a_hostile_checkpoint_in_one_line_fast(sample_results, name):
    problem = GPT_EDITS[name][1] if name in GPT_EDITS else RAW_CASES[name][1]
    assert_refused(sample_results[name], problem)


# ------------------------------------------------------------------ --resume

def set_train(**fields):
    return lambda tensors, meta: meta["train_config"].update(fields)


def set_groups(**fields):
    def edit(tensors, meta):
        for group in meta["optimizer"]["param_groups"]:
            group.update(fields)
    return edit


def set_state(**fields):
    return lambda tensors, meta: meta["optimizer"]["state"][0].update(fields)


def drop_moment(tensors, meta):
    del meta["optimizer"]["state"][0]["exp_avg_sq"]
    del tensors["optim.state.0.exp_avg_sq"]


def nan_moment(tensors, meta):
    tensors["optim.state.0.exp_avg"][0] = np.nan


def set_rng(**fields):
    return lambda tensors, meta: meta["rng"]["batches"].update(fields)


def special_data(kind):
    """An edit pointing the saved data path at a FIFO, /dev/zero or a directory (made beside the checkpoint)."""
    def edit(tensors, meta, folder):
        if kind == "fifo":
            os.mkfifo(folder / "fifo")
            meta["train_config"]["data"] = str(folder / "fifo")
        else:
            meta["train_config"]["data"] = {"zero": "/dev/zero", "directory": str(folder)}[kind]
    return edit


RESUME_EDITS = {  # name: (kind of run, edit, what the error must say)
    "data path that is a FIFO": ("bigram", special_data("fifo"), "is a FIFO (named pipe), not a regular file"),
    "data path /dev/zero": ("bigram", special_data("zero"), "/dev/zero is a character device, not a regular file"),
    "data path that is a directory": ("bigram", special_data("directory"), "data path is a directory"),
    "negative eps": ("bigram", set_groups(eps=-1e-8), "optimizer setting 'eps' is -1e-08, this run's is 1e-08"),
    "amsgrad switched on": ("bigram", set_groups(amsgrad=True), "optimizer setting 'amsgrad' is True"),
    "unknown optimizer flag": ("bigram", set_groups(nesterov=True),
                               "a setting 'nesterov' (True) that this run's optimizer does not have"),
    "optimizer state step -5": ("bigram", set_state(step=-5), "has step -5, not a whole number from 0"),
    "optimizer state step 5.7": ("bigram", set_state(step=5.7), "has step 5.7"),
    "optimizer state step beyond the run": ("bigram", set_state(step=10**6), "has step 1000000"),
    "optimizer state without a moment": ("bigram", drop_moment, "this optimizer keeps ['exp_avg', 'exp_avg_sq',"),
    "NaN in the optimizer state": ("bigram", nan_moment, "optim.state.0.exp_avg holds NaN"),
    "step -5": ("bigram", set_meta(step=-5), "its step -5 is not a whole number from 0 to the run's 2 steps"),
    "step 5.7": ("bigram", set_meta(step=5.7), "its step 5.7 is not"),
    "step beyond the run": ("bigram", set_meta(step=10**9), "its step 1000000000 is not"),
    "infinite learning rate": ("bigram", set_train(lr=float("inf")), "--lr inf is not a positive number"),
    "learning rate as a string": ("bigram", set_train(lr="fast"), "--lr 'fast' is not a positive number"),
    "batch size 1e12": ("bigram", set_train(batch_size=10**12), "training bigram needs about"),
    "eval_iters 0": ("bigram", set_train(eval_iters=0, eval_interval=1), "--eval-iters 0 is not a positive"),
    "unknown setting": ("bigram", set_train(turbo=True), "not a stepgrad training checkpoint"),
    "settings of another model": ("bigram", set_train(model="gpt"), "holds a bigram model but the settings of"),
    "another text's sha256": ("bigram", set_meta(data_sha256="0" * 64), "the training text differs"),
    "random state with a 200-digit number": ("bigram", set_rng(state={"state": 10**200, "inc": 1}),
                                             "damaged random generator state"),
    "random state of another generator": ("bigram", set_rng(bit_generator="MT19937"),
                                          "unsupported random generator state: 'MT19937'"),
    "an extra optimizer group": ("bigram", lambda t, m: m["optimizer"]["param_groups"].append(
        dict(m["optimizer"]["param_groups"][0])), "its optimizer has 2 parameter groups, this run's has 1"),
    "a group holding another parameter": ("bigram", set_groups(params=[7]), "does not hold this model's parameters"),
    "model config that disagrees with the settings": ("gpt", set_config(dropout=0.25),
                                                      "its model config does not match its run's settings"),
}


@pytest.fixture(scope="module")
def resume_results(runs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile-resume")
    cases = [{"name": "warm-up", "argv": ["train", "--resume", "--out", "nothing", "--no-progress"],
              "cwd": str(folder)}]
    folders = {}
    for i, (name, (kind, edit, _)) in enumerate(RESUME_EDITS.items()):
        case = folder / f"case{i}"
        run = case / "run"
        run.mkdir(parents=True)
        (run / "metrics.jsonl").write_bytes((runs[kind] / "metrics.jsonl").read_bytes())
        needs_folder = edit.__code__.co_argcount == 3
        edited(runs[kind] / "checkpoint.safetensors", run / "checkpoint.safetensors",
               (lambda t, m, e=edit, c=case: e(t, m, c)) if needs_folder else edit)
        folders[name] = (run, snapshot(run))
        cases.append({"name": name, "argv": ["train", "--resume", "--out", "run", "--no-progress"],
                      "cwd": str(case)})
    results = drive(cases)
    for name, (run, before) in folders.items():
        results[name]["unchanged"] = snapshot(run) == before
        results[name]["size"] = (run / "checkpoint.safetensors").stat().st_size
    return results


@pytest.mark.parametrize("name", RESUME_EDITS)
def test_resume_refuses_a_hostile_checkpoint_in_one_line_fast_and_changes_nothing(resume_results, name):
    result = resume_results[name]
    assert_refused(result, RESUME_EDITS[name][2])
    assert result["unchanged"], "the run's folder changed"
