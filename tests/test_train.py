"""The training loop (models.train) and its schedule, in-process on tiny models and a tiny corpus."""

import math

import numpy as np
import pytest

from engine import no_grad
from models import train as train_mod
from models.checkpoint import CheckpointError, load_checkpoint
from models.metrics import read_metrics
from models.schedule import get_lr
from models.train import (TrainError, config_from_checkpoint, evaluate, load_model, make_config,
                          prepare_out_dir, train)

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


# ------------------------------------------------------------------ schedule

def test_schedule_warms_up_linearly_then_follows_a_cosine_to_min_lr():
    lr, min_lr, warmup, total = 1e-3, 1e-4, 10, 110
    warm = [get_lr(i, lr, min_lr, warmup, total) for i in range(warmup)]
    assert np.allclose(warm, [lr * (i + 1) / (warmup + 1) for i in range(warmup)])
    assert get_lr(warmup, lr, min_lr, warmup, total) == lr
    assert math.isclose(get_lr(60, lr, min_lr, warmup, total), (lr + min_lr) / 2)
    assert math.isclose(get_lr(total, lr, min_lr, warmup, total), min_lr)
    assert get_lr(total + 5, lr, min_lr, warmup, total) == min_lr
    decay = [get_lr(i, lr, min_lr, warmup, total) for i in range(warmup, total + 1)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))


def test_schedule_without_room_to_decay_gives_min_lr_after_warmup():
    assert get_lr(5, 1.0, 0.1, warmup_steps=5, decay_steps=5) == 0.1
    assert get_lr(0, 1.0, 0.1, warmup_steps=0, decay_steps=10) == 1.0


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
    model = train_mod.build_model("gpt", train_mod.model_config_for(c, 11))
    opt = train_mod._make_optimizer(model, c)
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
    assert [r["step"] for r in records if "val_loss" in r] == [3, 6, 7]
    for r in records:
        assert set(r) - {"val_loss"} == {"step", "loss", "lr", "ms"}
        assert math.isfinite(r["loss"]) and r["ms"] > 0
        assert r["lr"] == get_lr(r["step"] - 1, config.lr, config.min_lr, config.warmup_steps, config.steps)
    assert records[-1]["val_loss"] == result.val_loss
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


def test_log_stats_records_the_optimizer_step_per_parameter(tmp_path, corpus):
    run(make_config("mlp", data=corpus, out=str(tmp_path), steps=2, log_stats=True, n_embd=4, n_hidden=8))
    stats = read_metrics(tmp_path / "metrics.jsonl")[-1]["optim_stats"]
    assert [row["name"] for row in stats] == ["wte.weight", "hidden.weight", "lm_head.weight",
                                              "hidden.bias", "lm_head.bias"]
    assert all(row["update_norm"] > 0 for row in stats)


@pytest.mark.filterwarnings("error")
def test_a_diverging_loss_stops_the_run(tmp_path, corpus, monkeypatch):
    monkeypatch.setattr(train_mod, "get_lr", lambda *args: float("inf"))
    with pytest.raises(TrainError, match="the loss became nan at step 2"):
        run(make_config("bigram", data=corpus, out=str(tmp_path), steps=5, grad_clip=0, weight_decay=0))


def test_evaluate_scores_the_same_batches_every_time(tmp_path, corpus):
    config = make_config("gpt", data=corpus, out=str(tmp_path), steps=1, dropout=0.5, eval_iters=3, **TINY_GPT)
    result = run(config)
    dataset = train_mod.CharDataset(CORPUS, config.val_fraction, result.tokenizer)
    first = evaluate(result.model, dataset, config)
    assert evaluate(result.model, dataset, config) == first
    assert result.model.training  # back in training mode
