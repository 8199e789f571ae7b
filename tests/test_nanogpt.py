"""The round trip with nanoGPT: export a trained stepgrad GPT, load it as nanoGPT does, import it back.

The PyTorch side is `tests/torch_gpt.py` (nanoGPT's architecture and `GPTConfig`);
`test_sample_py_loading_steps` repeats what nanoGPT's `sample.py` does, step for step.
"""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'stepgrad[torch]')")

from models.gpt_layout import state_shapes  # noqa: E402
from models.nanogpt_export import export_nanogpt  # noqa: E402
from models.nanogpt_import import import_nanogpt, read_nanogpt  # noqa: E402
from models.train import make_config, train  # noqa: E402
from models.train_config import make_optimizer  # noqa: E402
from models.trained import load_model  # noqa: E402
from optim import clip_grad_norm_  # noqa: E402
from tests.torch_gpt import NanoGPTConfig, TorchGPT  # noqa: E402
from cli_runs import one_line_error as assert_one_line_error  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n" * 40
TOKENS = np.array([[1, 5, 9, 2, 7, 3, 0, 4, 8, 6, 11, 10], [3, 3, 1, 0, 12, 5, 6, 2, 9, 9, 4, 7]])  # (2, 12)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny GPT trained for 20 steps with AdamW: (its checkpoint path, the corpus path)."""
    root = tmp_path_factory.mktemp("trained")
    corpus = root / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    config = make_config("gpt", data=str(corpus), out=str(root / "run"), steps=20, n_layer=2, n_head=2,
                         n_embd=32, block_size=16, batch_size=4, eval_interval=10, eval_iters=2)
    train(config, progress=False, echo=lambda line: None)
    return root / "run" / "checkpoint.safetensors", corpus


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """The export folder of the trained model."""
    out = tmp_path_factory.mktemp("export")
    export_nanogpt(trained[0], out)
    return out


def stepgrad_logits(model, tokens):
    model.eval()
    return model(tokens)[0].data                                          # (B, T, V)


def torch_logits(model, tokens):
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(tokens))[0].numpy()                # (B, T, V)


def test_export_loads_into_nanogpts_gpt_strictly_with_the_same_logits(trained, exported):
    ckpt = torch.load(exported / "out-stepgrad" / "ckpt.pt", map_location="cpu", weights_only=True)
    assert list(ckpt["model_args"]) == ["n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size", "dropout"]
    theirs = TorchGPT(NanoGPTConfig(**ckpt["model_args"]))
    theirs.load_state_dict(ckpt["model"], strict=True)
    assert ckpt["model"]["lm_head.weight"] is ckpt["model"]["transformer.wte.weight"]
    ours, _, _ = load_model(trained[0])
    np.testing.assert_allclose(torch_logits(theirs, TOKENS), stepgrad_logits(ours, TOKENS), rtol=0, atol=1e-5)


def test_sample_py_loading_steps(exported, monkeypatch):
    """nanoGPT's sample.py with init_from='resume', out_dir='out-stepgrad', run in the export folder."""
    monkeypatch.chdir(exported)
    torch.manual_seed(1337)
    ckpt_path = os.path.join("out-stepgrad", "ckpt.pt")
    checkpoint = torch.load(ckpt_path, map_location="cpu")  # PyTorch's default: weights_only=True
    gptconf = NanoGPTConfig(**checkpoint["model_args"])
    model = TorchGPT(gptconf)
    state_dict = checkpoint["model"]
    unwanted_prefix = "_orig_mod."
    for k, v in list(state_dict.items()):
        if k.startswith(unwanted_prefix):
            state_dict[k[len(unwanted_prefix):]] = state_dict.pop(k)
    model.load_state_dict(state_dict)
    model.eval()
    assert "config" in checkpoint and "dataset" in checkpoint["config"]
    meta_path = os.path.join("data", checkpoint["config"]["dataset"], "meta.pkl")
    assert os.path.exists(meta_path)
    with open(meta_path, "rb") as f:
        meta = pickle.load(f)
    stoi, itos = meta["stoi"], meta["itos"]
    start_ids = [stoi[c] for c in "\n"]
    x = torch.tensor(start_ids, dtype=torch.long)[None, ...]
    y = model.generate(x, 40, temperature=0.8, top_k=200)
    text = "".join(itos[i] for i in y[0].tolist())
    assert len(text) == 41 and set(text) <= set(TEXT)


def test_import_gives_back_the_same_model_logits_and_samples(trained, exported, tmp_path):
    original, tokenizer, _ = load_model(trained[0])
    import_nanogpt(exported / "out-stepgrad" / "ckpt.pt", tmp_path / "back.safetensors")
    back, back_tokenizer, meta = load_model(tmp_path / "back.safetensors")
    assert back_tokenizer.chars == tokenizer.chars and back.config == original.config
    assert meta["imported_from"]["iter_num"] == 20
    np.testing.assert_array_equal(stepgrad_logits(back, TOKENS), stepgrad_logits(original, TOKENS))
    prompt = tokenizer.encode("the ")[None, :]                           # (1, 4)
    np.testing.assert_array_equal(back.generate(prompt, 60, rng=7), original.generate(prompt, 60, rng=7))


def test_adamw_state_carries_over_step_for_step(trained, exported):
    """One more AdamW step in PyTorch from the exported state equals one more in stepgrad from the checkpoint."""
    from models.checkpoint import load_checkpoint
    from optim import unflatten_state_dict

    ckpt = torch.load(exported / "out-stepgrad" / "ckpt.pt", map_location="cpu", weights_only=True)
    theirs = TorchGPT(NanoGPTConfig(**ckpt["model_args"]))
    theirs.load_state_dict(ckpt["model"])
    params = dict(theirs.named_parameters())                              # nanoGPT's configure_optimizers
    groups = [{"params": [p for p in params.values() if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0}]
    torch_opt = torch.optim.AdamW(groups, lr=1.0, betas=(0.5, 0.5))
    torch_opt.load_state_dict(ckpt["optimizer"])                          # brings back betas, eps, decay

    ours, _, meta = load_model(trained[0])
    tensors, _ = load_checkpoint(trained[0])
    our_opt = make_optimizer(ours, make_config("gpt", **{k: meta["train_config"][k] for k in (
        "n_layer", "n_head", "n_embd", "block_size", "lr", "weight_decay", "betas")}))
    our_opt.load_state_dict(unflatten_state_dict(tensors, meta["optimizer"]))

    x, y = TOKENS[:, :-1].copy(), TOKENS[:, 1:].copy()                    # (2, 11) each
    for group in our_opt.param_groups:
        group["lr"] = 3e-4
    for group in torch_opt.param_groups:
        group["lr"] = 3e-4
    ours.train()
    _, loss = ours(x, y)
    loss.backward()
    clip_grad_norm_(ours.parameters(), 1.0)
    our_opt.step()
    theirs.train()
    _, torch_loss = theirs(torch.from_numpy(x), torch.from_numpy(y))
    torch_loss.backward()
    torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
    torch_opt.step()
    assert torch_opt.state[params["transformer.wte.weight"]]["step"].item() == 21
    after = ours.state_dict()
    for name, p in params.items():
        np.testing.assert_allclose(p.detach().numpy(), after[name], rtol=0, atol=1e-6, err_msg=name)


def test_train_and_val_bins_hold_the_training_text(trained, exported):
    _, tokenizer, _ = load_model(trained[0])
    ids = np.fromfile(exported / "data" / "stepgrad" / "train.bin", dtype=np.uint16)
    val = np.fromfile(exported / "data" / "stepgrad" / "val.bin", dtype=np.uint16)
    assert tokenizer.decode(ids.astype(np.int64)) + tokenizer.decode(val.astype(np.int64)) == TEXT
    assert len(ids) == int(len(TEXT) * 0.9)


def test_a_torch_compile_prefix_and_a_slow_attention_mask_are_accepted(exported, tmp_path):
    ckpt = torch.load(exported / "out-stepgrad" / "ckpt.pt", map_location="cpu", weights_only=True)
    bs = ckpt["model_args"]["block_size"]
    ckpt["model"] = {"_orig_mod." + k: v for k, v in ckpt["model"].items()}
    for i in range(ckpt["model_args"]["n_layer"]):
        ckpt["model"][f"_orig_mod.transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(bs, bs)).view(1, 1, bs, bs)
    torch.save(ckpt, tmp_path / "ckpt.pt")
    model, tokenizer, _ = read_nanogpt(tmp_path / "ckpt.pt", meta=exported / "data" / "stepgrad" / "meta.pkl")
    assert tokenizer.vocab_size == ckpt["model_args"]["vocab_size"]


# ---------------------------------------------------------------- the command line and bad files

@pytest.fixture
def stepgrad(tmp_path):
    """Run ``python -m models ARGS`` in tmp_path; return the CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def run(*args, extra_path=None):
        run_env = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [extra_path, str(ROOT)])))
        return subprocess.run([sys.executable, "-m", "models", *map(str, args)], cwd=tmp_path, env=run_env,
                              capture_output=True, text=True, timeout=120)
    return run




def files_under(folder):
    return sorted(p.relative_to(folder) for p in Path(folder).rglob("*"))


def test_cli_export_import_sample(stepgrad, trained, tmp_path):
    proc = stepgrad("export", "--checkpoint", trained[0], "--to", "nanogpt", "-o", "nano", "--dataset", "tiny")
    assert proc.returncode == 0, proc.stderr
    assert "python sample.py --out_dir=out-tiny --device=cpu" in proc.stdout
    assert {"ckpt.pt", "meta.pkl", "train.bin", "val.bin"} <= {p.name for p in (tmp_path / "nano").rglob("*")}
    proc = stepgrad("import", "nano/out-tiny/ckpt.pt", "-o", "back.safetensors")
    assert proc.returncode == 0, proc.stderr
    assert "iteration 20" in proc.stdout
    proc = stepgrad("sample", "--checkpoint", "back.safetensors", "--tokens", "30", "--seed", "3")
    assert proc.returncode == 0 and len(proc.stdout) > 30, proc.stderr


def test_cli_graph_explore_and_fine_tune_an_imported_model(stepgrad, exported, trained, tmp_path):
    assert stepgrad("import", exported / "out-stepgrad" / "ckpt.pt", "-o", "back.safetensors").returncode == 0
    proc = stepgrad("graph", "--checkpoint", "back.safetensors", "--format", "dot")
    assert proc.returncode == 0 and "transformer.h.1" in (tmp_path / "back-graph.dot").read_text(), proc.stderr
    proc = stepgrad("explore", "--checkpoint", "back.safetensors")
    assert proc.returncode == 0, proc.stderr
    assert "Backprop, step by step: back.safetensors" in (tmp_path / "backprop-back.html").read_text()
    for out, source in (("ft", "back.safetensors"), ("ft-pt", exported / "out-stepgrad" / "ckpt.pt")):
        proc = stepgrad("train", "--init-from", source, "--data", trained[1], "--steps", "2", "--eval-interval", "0",
                        "--no-progress", "--out", out)
        assert proc.returncode == 0 and "from the weights of" in proc.stdout, proc.stderr


def test_only_a_gpt_exports(stepgrad, tmp_path):
    (tmp_path / "c.txt").write_text(TEXT, encoding="utf-8")
    train(make_config("bigram", data=str(tmp_path / "c.txt"), out=str(tmp_path / "bg"), steps=2,
                      eval_interval=0), progress=False, echo=lambda line: None)
    proc = stepgrad("export", "--checkpoint", "bg/checkpoint.safetensors", "--to", "nanogpt", "-o", "nano")
    assert_one_line_error(proc, "only a GPT can be exported to nanoGPT", "bigram")
    assert not (tmp_path / "nano").exists()


def test_without_torch_export_and_import_say_what_to_install(stepgrad, trained, tmp_path):
    blocker = tmp_path / "no_torch"
    (blocker / "torch").mkdir(parents=True)
    (blocker / "torch" / "__init__.py").write_text("raise ImportError('no torch here')\n")
    proc = stepgrad("export", "--checkpoint", trained[0], "--to", "nanogpt", "-o", "nano", extra_path=str(blocker))
    assert_one_line_error(proc, "needs PyTorch", "pip install 'stepgrad[torch]'")
    proc = stepgrad("import", "ckpt.pt", "-o", "x.safetensors", extra_path=str(blocker))
    assert_one_line_error(proc, "needs PyTorch", "pip install 'stepgrad[torch]'")
    assert not (tmp_path / "nano").exists() and not (tmp_path / "x.safetensors").exists()


def gpt2_bpe_checkpoint(path):
    """A nanoGPT checkpoint of a (tiny) GPT-2-vocabulary model, as train.py saves without meta.pkl."""
    args = dict(n_layer=1, n_head=1, n_embd=4, block_size=8, bias=True, vocab_size=50304, dropout=0.0)
    torch.save({"model": TorchGPT(NanoGPTConfig(**args)).state_dict(), "model_args": args,
                "config": {"dataset": "openwebtext"}, "iter_num": 5}, path)


def bad_files(exported, tmp_path):
    """name -> (ckpt path, extra args, expected fragment of the error)."""
    good = exported / "out-stepgrad" / "ckpt.pt"
    meta = exported / "data" / "stepgrad" / "meta.pkl"
    ckpt = torch.load(good, map_location="cpu", weights_only=True)
    cases = {}
    (tmp_path / "truncated.pt").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases["truncated"] = ("truncated.pt", ["--meta", meta], "not a readable PyTorch checkpoint")
    gpt2_bpe_checkpoint(tmp_path / "gpt2.pt")
    cases["gpt2 without meta"] = ("gpt2.pt", [], "GPT-2 BPE model (vocabulary 50304) without a meta.pkl")
    other = dict(ckpt, model={k.replace("c_attn", "qkv"): v for k, v in ckpt["model"].items()})
    torch.save(other, tmp_path / "other.pt")
    cases["other keys"] = ("other.pt", ["--meta", meta], "missing transformer.h.0.attn.c_attn.weight")
    reshaped = dict(ckpt, model_args=dict(ckpt["model_args"], n_embd=16, n_head=2))
    torch.save(reshaped, tmp_path / "reshaped.pt")
    cases["shapes"] = ("reshaped.pt", ["--meta", meta], "model_args imply")
    small = pickle.load(open(meta, "rb"))
    small = {"vocab_size": small["vocab_size"] - 1, "itos": dict(list(small["itos"].items())[:-1]),
             "stoi": dict(list(small["stoi"].items())[:-1])}
    (tmp_path / "small.pkl").write_bytes(pickle.dumps(small))
    cases["meta vocabulary"] = (good, ["--meta", "small.pkl"], "describes a vocabulary of")
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(EvilMeta()))
    cases["meta with code"] = (good, ["--meta", "evil.pkl"], "refused: it asks for posix.system")
    cases["missing"] = ("nothing.pt", [], "file not found: nothing.pt")
    (tmp_path / "notes.pt").write_text("hello")
    cases["not a checkpoint"] = ("notes.pt", [], "not a readable PyTorch checkpoint")
    torch.save({"model": {}, "model_args": {"n_layer": 10**9, "n_head": 1, "n_embd": 1, "block_size": 1,
                                            "bias": False, "vocab_size": 1, "dropout": 0.0}}, tmp_path / "huge.pt")
    cases["huge n_layer"] = ("huge.pt", [], "holds only 0 tensors")
    long_args = dict(n_layer=1, n_head=1, n_embd=1, block_size=40_000, bias=False, vocab_size=2, dropout=0.0)
    wte = torch.zeros(2, 1)
    state = {k: wte if k in ("transformer.wte.weight", "lm_head.weight") else torch.zeros(shape)
             for k, shape in state_shapes(long_args).items()}
    torch.save({"model": state, "model_args": long_args}, tmp_path / "long.pt")
    cases["huge block_size"] = ("long.pt", [], "GiB of causal masks in stepgrad")
    return cases


class EvilMeta:
    """Unpickling this would run `touch pwned` if the unpickler allowed globals."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_bad_files_are_one_line_errors_and_write_nothing(stepgrad, exported, tmp_path):
    for name, (ckpt, extra, fragment) in bad_files(exported, tmp_path).items():
        before = files_under(tmp_path)
        proc = stepgrad("import", ckpt, *extra, "-o", "out.safetensors")
        assert_one_line_error(proc, fragment)
        assert files_under(tmp_path) == before, name
    assert not (tmp_path / "pwned").exists()


def test_an_untied_lm_head_is_refused(exported, tmp_path):
    ckpt = torch.load(exported / "out-stepgrad" / "ckpt.pt", map_location="cpu", weights_only=True)
    ckpt["model"]["lm_head.weight"] = ckpt["model"]["lm_head.weight"] + 1.0
    torch.save(ckpt, tmp_path / "untied.pt")
    with pytest.raises(ValueError, match="lm_head.weight is not tied"):
        read_nanogpt(tmp_path / "untied.pt", meta=exported / "data" / "stepgrad" / "meta.pkl")


def test_export_reads_the_checkpoints_data_once(trained, tmp_path, monkeypatch):
    from models.checkpoint import CheckpointFile
    reads = []
    original = CheckpointFile.read_tensors
    monkeypatch.setattr(CheckpointFile, "read_tensors", lambda self: reads.append(self.path) or original(self))
    export_nanogpt(trained[0], tmp_path)
    assert len(reads) == 1
