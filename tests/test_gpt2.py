"""`GPT.from_pretrained`: a GPT-2 saved by Hugging Face transformers (random weights, no network) loads
into stepgrad and gives `GPT2LMHeadModel`'s logits; `stepgrad sample --pretrained` samples from it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import GPT
from models.hf_gpt2 import PretrainedError

torch = pytest.importorskip("torch", reason="PyTorch is not installed (the GPT-2 reference runs on it)")
transformers = pytest.importorskip("transformers", reason="transformers is not installed (pip install transformers)")

ROOT = Path(__file__).resolve().parent.parent
TEXT = ["Hello, world! The quick brown fox jumps over the lazy dog.", "Tokenizers split text into pieces.",
        "GPT-2 reads bytes, merges them into tokens, and predicts the next one."] * 20


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    """A 2-layer GPT-2 with random weights and a small byte-level BPE tokenizer, saved as transformers does."""
    from tokenizers import ByteLevelBPETokenizer

    folder = tmp_path_factory.mktemp("gpt2")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TEXT, vocab_size=300, min_frequency=1)
    bpe.save_model(str(folder))                                           # vocab.json, merges.txt
    bpe.save(str(folder / "tokenizer.json"))
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=48, vocab_size=320,
                                     bos_token_id=0, eos_token_id=0)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def hf_model(folder):
    return transformers.GPT2LMHeadModel.from_pretrained(folder).eval()


def test_logits_match_gpt2lmheadmodel(gpt2_dir):
    ours = GPT.from_pretrained(gpt2_dir)
    assert ours.config.gelu_approximate == "tanh" and ours.config.bias
    ids = np.random.default_rng(0).integers(0, 320, (3, 48))             # (B, T): the whole context
    ours.eval()
    with torch.no_grad():
        theirs = hf_model(gpt2_dir)(torch.from_numpy(ids)).logits.numpy()  # (B, T, V)
    np.testing.assert_allclose(ours(ids)[0].data, theirs, rtol=0, atol=1e-4)


def test_the_folder_of_a_gpt2model_without_prefixes_loads(gpt2_dir, tmp_path):
    """OpenAI's own upload is a GPT2Model: keys like `h.0.attn.c_attn.weight`, plus mask buffers."""
    from safetensors.numpy import load_file, save_file

    state = load_file(gpt2_dir / "model.safetensors")
    bare = {k.removeprefix("transformer."): v for k, v in state.items()}
    bare["h.0.attn.bias"] = np.tril(np.ones((1, 1, 48, 48), dtype=np.float32))
    save_file(bare, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_bytes((gpt2_dir / "config.json").read_bytes())
    ids = np.arange(10)[None, :]                                          # (1, 10)
    np.testing.assert_array_equal(GPT.from_pretrained(tmp_path)(ids)[0].data,
                                  GPT.from_pretrained(gpt2_dir)(ids)[0].data)


def test_bpe_tokenizer_agrees_with_transformers(gpt2_dir):
    from models.bpe import load_bpe

    ours = load_bpe(gpt2_dir)
    theirs = transformers.GPT2TokenizerFast.from_pretrained(gpt2_dir)
    for text in ("Hello, world!", " The lazy fox merges bytes.\n", "ünïcödé and emoji 🙂"):
        assert ours.encode(text).tolist() == theirs.encode(text)
        assert ours.decode(ours.encode(text)) == text


def run(tmp_path, *args, extra_path=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [extra_path, str(ROOT)])))
    return subprocess.run([sys.executable, "-m", "models", *map(str, args)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_greedy_ids_match_transformers_generate(gpt2_dir, tmp_path):
    proc = run(tmp_path, "sample", "--pretrained", gpt2_dir, "--ids", "15 40 7", "--tokens", "12", "--temperature", "0")
    assert proc.returncode == 0, proc.stderr
    with torch.no_grad():
        expected = hf_model(gpt2_dir).generate(torch.tensor([[15, 40, 7]]), max_new_tokens=12, do_sample=False,
                                               pad_token_id=0)
    assert proc.stdout.split() == [str(i) for i in expected[0].tolist()]


def test_cli_text_in_and_out(gpt2_dir, tmp_path):
    proc = run(tmp_path, "sample", "--pretrained", gpt2_dir, "--prompt", "Hello, world", "--tokens", "5", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Hello, world")


def test_cli_text_without_tokenizers_says_what_to_install(gpt2_dir, tmp_path):
    blocker = tmp_path / "no_tokenizers"
    (blocker / "tokenizers").mkdir(parents=True)
    (blocker / "tokenizers" / "__init__.py").write_text("raise ImportError('not here')\n")
    proc = run(tmp_path, "sample", "--pretrained", gpt2_dir, "--prompt", "Hello", extra_path=str(blocker))
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "pip install 'stepgrad[gpt2]', or give token ids with --ids" in proc.stderr


def broken_folders(gpt2_dir, tmp_path):
    """name -> (folder, fragment of the one-line error)."""
    config = json.loads((gpt2_dir / "config.json").read_text())
    cases = {}

    def folder(name, config_changes=None, weights=True):
        path = tmp_path / name
        path.mkdir()
        if config_changes is not None:
            (path / "config.json").write_text(json.dumps({**config, **config_changes}))
        if weights:
            (path / "model.safetensors").write_bytes((gpt2_dir / "model.safetensors").read_bytes())
        return path

    cases["no config"] = (folder("noconfig"), "config.json not found")
    cases["no weights"] = (folder("noweights", {}, weights=False), "model.safetensors not found")
    cases["llama"] = (folder("llama", {"model_type": "llama"}), "describes a 'llama' model")
    cases["relu"] = (folder("relu", {"activation_function": "relu"}), "is not a GELU")
    cases["sizes"] = (folder("sizes", {"n_embd": 64}), "has shape")
    cases["layers"] = (folder("layers", {"n_layer": 3}), "missing transformer.h.2.ln_1.weight")
    cases["huge context"] = (folder("huge", {"n_positions": 10**6}), "GiB of causal masks")
    truncated = folder("truncated", {}, weights=False)
    data = (gpt2_dir / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    cases["truncated"] = (truncated, "not a readable safetensors file")
    return cases


def test_broken_folders_are_one_line_errors(gpt2_dir, tmp_path):
    for name, (folder, fragment) in broken_folders(gpt2_dir, tmp_path).items():
        with pytest.raises(PretrainedError, match=fragment):
            GPT.from_pretrained(folder)
    proc = run(tmp_path, "sample", "--pretrained", tmp_path / "llama", "--ids", "1")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "'llama'" in proc.stderr, proc.stderr
    proc = run(tmp_path, "sample", "--pretrained", gpt2_dir, "--ids", "1 999")
    assert proc.returncode == 1 and "token id 999 is out of range" in proc.stderr, proc.stderr
