"""The training loop (models.train) and its settings, in-process on tiny models and a tiny corpus."""

import math
import os
import signal

import numpy as np
import pytest

from engine import manual_seed, nn, no_grad
from models import train as train_mod
from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.data import CharDataset
from models.metrics import read_metrics
from models.registry import build_model
from models.interrupt import TrainingInterrupted
from models.train import TrainError, evaluate, make_config, prepare_out_dir, train
from models.train_config import config_from_checkpoint, make_optimizer, model_config_for
from models.trained import load_model

CORPUS = "".join(f"{w} " for w in ("to be or not to be that is the question whether tis nobler "
                                   "in the mind to suffer the slings and arrows of outrageous fortune "
                                   ).split() * 40)
TINY_GPT = dict(n_layer=1, n_head=2, n_embd=16, block_size=8, batch_size=4)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return str(path)


def run(config, **kwargs):
    return train(config, progress=False, echo=lambda line: None, **kwargs)


def losses(out):
    return [record["loss"] for record in read_metrics(out / "metrics.jsonl")]


def nanogpt_lr(step, config):
    """nanoGPT's get_lr for the step counted from 0, with the run's total steps as lr_decay_iters."""
    lr, min_lr, warmup, total = config.lr, config.min_lr, config.warmup_steps, config.steps
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    if step > total or total <= warmup:
        return min_lr
    decay_ratio = (step - warmup) / (total - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * decay_ratio)) * (lr - min_lr)


# ------------------------------------------------------------------ configs

def test_gpt_defaults_are_nanogpts_cpu_recipe():
    c = make_config("gpt")
    assert (c.n_layer, c.n_head, c.n_embd, c.block_size, c.batch_size) == (4, 4, 128, 64, 12)
    assert (c.optimizer, c.lr, c.min_lr, c.warmup_steps, c.betas) == ("adamw", 1e-3, 1e-4, 100, (0.9, 0.99))
    assert (c.weight_decay, c.grad_clip, c.dropout, c.steps, c.val_fraction, c.eval_iters) == \
        (0.1, 1.0, 0.0, 2000, 0.1, 20)


@pytest.mark.parametrize("model, given, problem", [
    ("bigram", dict(n_layer=2), "--n-layer does not apply to the bigram model"),
    ("mlp", dict(n_head=2), "--n-head does not apply to the mlp model"),
    ("gpt", dict(optimizer="newton"), "optimizer 'newton' cannot train a language model"),
    ("gpt", dict(lr=1e-4, min_lr=1e-3), "--min-lr 0.001 is larger than --lr 0.0001"),
    ("gpt", dict(n_embd=10, n_head=4), "--n-embd 10 must be a multiple of --n-head 4"),
    ("transformer", {}, "unknown model 'transformer'"),
])
def test_impossible_settings_are_refused_with_a_message(model, given, problem):
    with pytest.raises(TrainError, match="^" + problem.replace("(", r"\(").replace(")", r"\)")):
        make_config(model, **given)


def test_weight_decay_goes_to_matrices_only():
    c = make_config("gpt", weight_decay=0.3, **TINY_GPT)
    model = build_model("gpt", model_config_for(c, 11))
    opt = make_optimizer(model, c)
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] == 0.3 for p in g["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in decayed) == (p.ndim >= 2), name
    assert opt.param_groups[0]["betas"] == (0.9, 0.99)


def test_unwritable_out_dir_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TrainError, match="cannot write to output directory"):
        prepare_out_dir(blocker / "run")


# ------------------------------------------------------------------ the loop

def test_metrics_have_one_record_per_step_and_val_loss_on_eval_steps(tmp_path, corpus):
    config = make_config("bigram", data=corpus, out=str(tmp_path / "run"), steps=7, eval_interval=3,
                         eval_iters=2, batch_size=4, block_size=8, warmup_steps=2)
    result = run(config)
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(1, 8))
    assert [(r["step"], r.get("val_kind")) for r in records if "val_loss" in r] == [
        (3, "sampled"), (6, "sampled"), (7, "full")]  # the last evaluation scores the whole split
    for r in records:
        assert set(r) - {"val_loss", "val_kind"} == {"step", "loss", "lr", "ms"}
        assert math.isfinite(r["loss"]) and r["ms"] > 0
        assert r["lr"] == nanogpt_lr(r["step"] - 1, config)
    assert records[-1]["val_loss"] == result.val_loss and result.val_kind == "full"
    assert records[0]["loss"] == pytest.approx(math.log(result.tokenizer.vocab_size), rel=1e-6)  # zero table
    assert (tmp_path / "run" / "loss.png").stat().st_size > 0
    assert load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")[1]["step"] == 7


def test_eval_interval_zero_never_evaluates_and_still_saves_at_the_end(tmp_path, corpus):
    config = make_config("bigram", data=corpus, out=str(tmp_path), steps=3, eval_interval=0)
    assert run(config).val_loss is None
    assert all("val_loss" not in r for r in read_metrics(tmp_path / "metrics.jsonl"))
    assert load_checkpoint(tmp_path / "checkpoint.safetensors")[1]["step"] == 3


def test_evaluating_does_not_change_the_training_losses(tmp_path, corpus):
    common = dict(data=corpus, steps=6, dropout=0.1, **TINY_GPT)
    run(make_config("gpt", out=str(tmp_path / "a"), eval_interval=1, **common))
    run(make_config("gpt", out=str(tmp_path / "b"), eval_interval=0, **common))
    assert losses(tmp_path / "a") == losses(tmp_path / "b")


def test_checkpoint_round_trip_gives_identical_logits(tmp_path, corpus):
    for kind, sizes in (("gpt", TINY_GPT), ("mlp", dict(n_embd=4, n_hidden=8, block_size=3))):
        result = run(make_config(kind, data=corpus, out=str(tmp_path / kind), steps=3, **sizes))
        loaded, tokenizer, meta = load_model(tmp_path / kind / "checkpoint.safetensors")
        assert type(loaded) is type(result.model) and tokenizer.chars == result.tokenizer.chars
        assert meta["kind"] == kind and meta["step"] == 3
        idx = np.arange(16).reshape(2, 8) % tokenizer.vocab_size  # (2, 8)
        with no_grad():
            assert np.array_equal(loaded(idx)[0].data, result.model(idx)[0].data)


def test_resume_gives_exactly_the_losses_of_an_uninterrupted_run(tmp_path, corpus):
    # constant rate: the schedule of a 6-step run and of a 12-step run agree on steps 1-6
    common = dict(data=corpus, dropout=0.2, lr=3e-3, min_lr=3e-3, warmup_steps=0, eval_iters=2, **TINY_GPT)
    whole = run(make_config("gpt", out=str(tmp_path / "whole"), steps=12, eval_interval=5, **common))
    run(make_config("gpt", out=str(tmp_path / "split"), steps=6, eval_interval=0, **common))
    resumed = run(config_from_checkpoint(tmp_path / "split", steps=12), resume=True)
    assert losses(tmp_path / "split") == losses(tmp_path / "whole")  # bit for bit, all 12
    assert [r["step"] for r in read_metrics(tmp_path / "split" / "metrics.jsonl")] == list(range(1, 13))
    for (name, a), (_, b) in zip(whole.model.named_parameters(), resumed.model.named_parameters()):
        assert np.array_equal(a.data, b.data), name


def test_a_run_stopped_mid_schedule_resumes_with_the_same_learning_rates_and_losses(tmp_path, corpus):
    """Ctrl-C at step 5 of 12 (warm-up 3, then the cosine): the resumed run is the uninterrupted one."""
    common = dict(data=corpus, steps=12, warmup_steps=3, lr=1e-2, min_lr=1e-3, eval_interval=5, eval_iters=1,
                  dropout=0.1, **TINY_GPT)
    whole = run(make_config("gpt", out=str(tmp_path / "whole"), **common))

    def press_ctrl_c_at_step_5(line):
        if line.startswith("step 5:"):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted):
        train(make_config("gpt", out=str(tmp_path / "split"), **common), progress=False, echo=press_ctrl_c_at_step_5)
    assert load_checkpoint(tmp_path / "split" / "checkpoint.safetensors")[1]["step"] == 5
    resumed = run(config_from_checkpoint(tmp_path / "split"), resume=True)
    records = {name: read_metrics(tmp_path / name / "metrics.jsonl") for name in ("whole", "split")}
    assert [r["lr"] for r in records["split"]] == [r["lr"] for r in records["whole"]]
    assert len({r["lr"] for r in records["whole"]}) == 12  # every step had its own rate
    assert losses(tmp_path / "split") == losses(tmp_path / "whole")
    for (name, a), (_, b) in zip(whole.model.named_parameters(), resumed.model.named_parameters()):
        assert np.array_equal(a.data, b.data), name


def test_a_checkpoint_written_before_the_scheduler_resumes_the_same(tmp_path, corpus):
    """Checkpoints older than WarmupCosineLR have no 'initial_lr' in their optimizer groups; they resume alike."""
    common = dict(data=corpus, steps=4, warmup_steps=3, lr=1e-2, min_lr=1e-3, eval_interval=0, **TINY_GPT)
    for name in ("new", "old"):
        run(make_config("gpt", out=str(tmp_path / name), **common))
    path = tmp_path / "old" / "checkpoint.safetensors"
    tensors, meta = load_checkpoint(path)
    for group in meta["optimizer"]["param_groups"]:
        del group["initial_lr"]
    save_checkpoint(path, tensors, meta)
    for name in ("new", "old"):
        run(config_from_checkpoint(tmp_path / name, steps=9), resume=True)
    new, old = (read_metrics(tmp_path / name / "metrics.jsonl") for name in ("new", "old"))
    assert [(r["loss"], r["lr"]) for r in old] == [(r["loss"], r["lr"]) for r in new] and len(new) == 9


def test_resume_refuses_changed_settings_and_changed_data(tmp_path, corpus):
    run(make_config("bigram", data=corpus, out=str(tmp_path), steps=2))
    with pytest.raises(TrainError, match=r"^--lr 0.5 differs from the run being resumed"):
        config_from_checkpoint(tmp_path, lr=0.5)
    with open(corpus, "a", encoding="utf-8") as f:
        f.write("the end")
    with pytest.raises(TrainError, match="training text differs"):
        run(config_from_checkpoint(tmp_path, steps=4), resume=True)


def test_resume_without_a_checkpoint_or_with_a_foreign_one_is_refused(tmp_path):
    with pytest.raises(TrainError, match="nothing to resume"):
        config_from_checkpoint(tmp_path)
    (tmp_path / "checkpoint.safetensors").write_bytes(b"\x80\x04junk")
    with pytest.raises(CheckpointError, match="not a stepgrad checkpoint"):
        config_from_checkpoint(tmp_path)


def test_grad_clip_zero_switches_clipping_off(tmp_path, corpus, monkeypatch):
    calls = []
    monkeypatch.setattr(train_mod, "clip_grad_norm_", lambda params, max_norm: calls.append(max_norm))
    run(make_config("bigram", data=corpus, out=str(tmp_path / "a"), steps=2, grad_clip=0))
    assert calls == []
    run(make_config("bigram", data=corpus, out=str(tmp_path / "b"), steps=2, grad_clip=0.5))
    assert calls == [0.5, 0.5]


def test_log_stats_records_the_step_and_draws_stats_png(tmp_path, corpus):
    run(make_config("mlp", data=corpus, out=str(tmp_path), steps=2, log_stats=True, n_embd=4, n_hidden=8,
                    grad_clip=1e-3))
    record = read_metrics(tmp_path / "metrics.jsonl")[-1]
    stats = record["optim_stats"]
    assert [row["name"] for row in stats] == ["wte.weight", "hidden.weight", "lm_head.weight",
                                              "hidden.bias", "lm_head.bias"]
    assert all(row["update_norm"] > 0 for row in stats)
    clipped = math.sqrt(sum(row["grad_norm"] ** 2 for row in stats))
    assert clipped == pytest.approx(1e-3, rel=1e-3) and record["grad_norm"] > 1e-2  # the norm before clipping
    assert list(record["saturation"]) == ["tanh"] and 0 <= record["saturation"]["tanh"] <= 1
    assert (tmp_path / "stats.png").read_bytes().startswith(b"\x89PNG")


def test_the_mlp_trains_on_word_lists_as_makemore_does(tmp_path):
    words = ["emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper", "evelyn"] * 6
    path = tmp_path / "names.txt"
    path.write_text("\n".join(words) + "\n", encoding="utf-8")
    lines = []
    config = make_config("mlp", data=str(path), out=str(tmp_path / "run"), steps=1, batch_size=5, seq_len=4,
                         block_size=3, n_embd=4, n_hidden=8, eval_interval=0)
    result = train(config, progress=False, echo=lines.append)
    assert "(a word list: 60 words, one per line)" in lines[0] and "batch 5 x 4, context 3" in lines[0]
    newline = result.tokenizer.encode("\n")[0]
    assert result.model.pad_id == newline and result.model.wte.weight.shape[0] == result.tokenizer.vocab_size
    # the first step's loss is that of the batch drawn from the word list, each character with its context
    manual_seed(config.seed)
    model = build_model("mlp", model_config_for(config, result.tokenizer.vocab_size, pad_id=newline))
    dataset = CharDataset(path.read_text(), config.val_fraction, result.tokenizer, word_list=True)
    x, y = dataset.get_context_batch("train", 5, 4, 3, newline, np.random.default_rng([config.seed, 1]))
    assert losses(tmp_path / "run")[0] == model(x, y)[1].item()


def test_seq_len_is_the_mlps_and_word_lists_can_be_forced(tmp_path):
    with pytest.raises(TrainError, match="--seq-len does not apply to the gpt model"):
        make_config("gpt", seq_len=8)
    path = tmp_path / "lines.txt"
    path.write_text("to be or not to be\nthat is the question\n" * 30, encoding="utf-8")
    for word_list, said in ((None, False), (True, True)):  # lines with spaces: a text, unless forced
        lines = []
        train(make_config("bigram", data=str(path), out=str(tmp_path / str(word_list)), steps=1, block_size=8,
                          word_list=word_list, eval_interval=0), progress=False, echo=lines.append)
        assert ("(a word list: 60 words" in lines[0]) is said


def test_saturation_is_measured_on_the_training_forward_pass(tmp_path, corpus):
    result = run(make_config("gpt", data=corpus, out=str(tmp_path), steps=1, log_stats=True, **TINY_GPT))
    record = read_metrics(tmp_path / "metrics.jsonl")[-1]
    assert list(record["saturation"]) == ["transformer.h.0.mlp.gelu"]
    assert not any(m._forward_hooks for m in result.model.modules())  # the hooks are gone after the run


def test_without_log_stats_nothing_is_hooked_or_recorded(tmp_path, corpus, monkeypatch):
    hooked = []
    monkeypatch.setattr(nn.Module, "register_forward_hook", lambda self, hook: hooked.append(self))
    run(make_config("gpt", data=corpus, out=str(tmp_path), steps=2, **TINY_GPT))
    assert hooked == []
    assert all(set(r) <= {"step", "loss", "lr", "ms", "val_loss", "val_kind"}
               for r in read_metrics(tmp_path / "metrics.jsonl"))
    assert not (tmp_path / "stats.png").exists()


@pytest.mark.filterwarnings("error")
def test_a_diverging_loss_stops_the_run(tmp_path, corpus):
    with pytest.raises(TrainError, match="the loss became nan at step 2 .*: the updates are too large; start again "
                                         r"\(--overwrite\) with a smaller --lr"):
        run(make_config("bigram", data=corpus, out=str(tmp_path), steps=5, grad_clip=0, weight_decay=0,
                        lr=1e300))  # finite as a Python float, inf in float32


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("grad_clip", [0.0, 1.0])
def test_a_loss_past_ten_uniform_guesses_stops_the_run_saying_what_to_try(tmp_path, corpus, grad_clip):
    config = make_config("bigram", data=corpus, out=str(tmp_path), steps=20, optimizer="sgd", lr=1e5, min_lr=0,
                         warmup_steps=0, weight_decay=0, grad_clip=grad_clip)
    with pytest.raises(TrainError) as stopped:
        run(config)
    message = str(stopped.value)
    vocab = len(set(CORPUS))
    assert f"over 10 times the {math.log(vocab):.3g} of a uniform guess among {vocab} characters" in message
    assert "a smaller --lr (this run's is 100000; try 10000)" in message
    assert ("--grad-clip 1 to bound each update" in message) == (grad_clip == 0)
    assert "a longer warm-up (--warmup-steps 100)" in message and "\n" not in message
    assert len(losses(tmp_path)) < 20


def test_evaluate_scores_the_same_batches_every_time(tmp_path, corpus):
    config = make_config("gpt", data=corpus, out=str(tmp_path), steps=1, dropout=0.5, eval_iters=3, **TINY_GPT)
    result = run(config)
    dataset = CharDataset(CORPUS, config.val_fraction, result.tokenizer)
    first = evaluate(result.model, dataset, config)
    assert evaluate(result.model, dataset, config) == first
    assert result.model.training  # back in training mode
