"""metrics.jsonl writing, crash tolerance, resume truncation; loss-curve and linreg plots."""

import json
import math

import numpy as np
import pytest

from models.metrics import MetricsError, MetricsWriter, read_metrics
from models.plots import plot_linreg, plot_loss_curve, smooth


def write_steps(path, steps, append=False, resume_step=None, eval_every=5):
    with MetricsWriter(path, append=append, resume_step=resume_step) as writer:
        for step in steps:
            val = {"val_loss": 2.0 - step / 100} if step % eval_every == 0 else {}
            writer.write(step, 3.0 - step / 100, 1e-3, 12.5, **val)


def test_one_json_line_per_step(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write_steps(path, range(7))
    lines = path.read_text().splitlines()
    assert len(lines) == 7
    first = json.loads(lines[0])
    assert first == {"step": 0, "loss": 3.0, "lr": 1e-3, "ms": 12.5, "val_loss": 2.0}
    assert "val_loss" not in json.loads(lines[1])
    assert [r["step"] for r in read_metrics(path)] == list(range(7))


def test_line_is_on_disk_before_close_and_extras_kept(tmp_path):
    path = tmp_path / "metrics.jsonl"
    writer = MetricsWriter(path)
    writer.write(np.int64(1), np.float32(2.5), 0.1, 3.0, tokens_per_s=1000.0)
    assert read_metrics(path) == [{"step": 1, "loss": 2.5, "lr": 0.1, "ms": 3.0, "tokens_per_s": 1000.0}]
    writer.close()


def test_non_finite_values_stay_strict_json(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with MetricsWriter(path) as writer:
        writer.write(0, float("nan"), 0.1, 1.0, val_loss=float("inf"))
    assert "NaN" not in path.read_text() and "Infinity" not in path.read_text()
    record = read_metrics(path)[0]
    assert math.isnan(record["loss"]) and math.isnan(record["val_loss"])


def test_torn_last_line_is_ignored(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write_steps(path, range(3))
    with open(path, "a") as f:
        f.write('{"step": 3, "loss": 2.9')
    assert [r["step"] for r in read_metrics(path)] == [0, 1, 2]


def test_damaged_middle_line_is_an_error(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 0, "loss": 1}\nnot json\n{"step": 2, "loss": 1}\n')
    with pytest.raises(MetricsError, match="line 2"):
        read_metrics(path)


def test_resume_truncates_later_steps_and_appends(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write_steps(path, range(13))  # the crashed run got to step 12
    with open(path, "a") as f:
        f.write('{"step": 13, "lo')  # and died mid-line
    write_steps(path, range(11, 15), append=True, resume_step=10)  # checkpoint was at step 10
    assert [r["step"] for r in read_metrics(path)] == list(range(15))
    assert path.read_text().endswith("\n")


def test_append_without_resume_step_repairs_torn_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write_steps(path, range(2))
    with open(path, "a") as f:
        f.write('{"step": 2,')
    write_steps(path, [2], append=True)
    assert [r["step"] for r in read_metrics(path)] == [0, 1, 2]


def test_new_writer_truncates_and_append_creates(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write_steps(path, range(4))
    write_steps(path, range(2))
    assert len(read_metrics(path)) == 2
    write_steps(tmp_path / "fresh.jsonl", [0], append=True, resume_step=0)
    assert len(read_metrics(tmp_path / "fresh.jsonl")) == 1


# ------------------------------------------------------------------------ plots

def fake_metrics(steps=300):
    rng = np.random.default_rng(0)
    records = []
    for step in range(steps):
        record = {"step": step, "loss": 1.5 + 3 * np.exp(-step / 60) + rng.normal(0, 0.05),
                  "lr": 1e-3, "ms": 30.0}
        if step % 50 == 0 or step == steps - 1:
            record["val_loss"] = 1.6 + 3 * np.exp(-step / 60)
        records.append(record)
    return records


def is_png(path):
    return path.stat().st_size > 5000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_loss_curve_png(tmp_path):
    path = tmp_path / "loss.png"
    plot_loss_curve(fake_metrics(), path)
    assert is_png(path) and [p.name for p in tmp_path.iterdir()] == ["loss.png"]


def test_loss_curve_tolerates_nan_and_missing_val(tmp_path):
    records = [{"step": i, "loss": float("nan") if i == 3 else 2.0 / (i + 1), "lr": 0.1, "ms": 1.0}
               for i in range(20)]
    plot_loss_curve(records, tmp_path / "loss.svg")
    assert (tmp_path / "loss.svg").read_text().lstrip().startswith("<?xml")


def test_linreg_png(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random(100)
    y = 2 * x + 1 + rng.random(100)
    fits = {"gradient descent": (1.4, 2.0), "least squares": (1.5, 1.98)}
    plot_linreg(x, y, fits, tmp_path / "fit.png")
    plot_linreg(x, y, fits, tmp_path / "both.png", losses={"gradient descent": np.geomspace(10, 0.1, 50)})
    assert is_png(tmp_path / "fit.png") and is_png(tmp_path / "both.png")


def test_smooth_does_not_lag_a_ramp_stays_on_itself_and_a_constant_stays_constant():
    ramp = 3.0 - 0.01 * np.arange(1000)  # a falling loss: a trailing average would sit above it
    np.testing.assert_allclose(smooth(ramp), ramp, rtol=0, atol=1e-9)
    np.testing.assert_allclose(smooth(ramp, window=101), ramp, rtol=0, atol=1e-9)
    np.testing.assert_allclose(smooth([2.0] * 10, window=5), 2.0)
    np.testing.assert_array_equal(smooth([]), [])


def test_smooth_windows_shrink_to_stay_centered_at_the_ends():
    values = np.array([1.0, 5.0, 2.0, 8.0, 4.0, 0.0, 6.0])
    expected = [1.0, (1 + 5 + 2) / 3, (1 + 5 + 2 + 8 + 4) / 5, (5 + 2 + 8 + 4 + 0) / 5, (2 + 8 + 4 + 0 + 6) / 5,
                (4 + 0 + 6) / 3, 6.0]
    np.testing.assert_allclose(smooth(values, window=5), expected)
    assert smooth(values, window=4)[3] == smooth(values, window=5)[3]  # an even window counts as the odd one above
    np.testing.assert_array_equal(smooth(values, window=1), values)


def test_smooth_evens_out_noise_and_keeps_gaps():
    noisy = 2.0 + np.random.default_rng(0).normal(0.0, 0.1, 2000)
    assert np.std(smooth(noisy)[50:-50]) < np.std(noisy) / 3  # the default window: 41 steps of 2000
    values = np.array([1.0, np.nan, 3.0, np.inf, 5.0])
    out = smooth(values, window=3)
    assert np.isnan(out[1]) and np.isnan(out[3])
    np.testing.assert_allclose(out[[0, 2, 4]], [1.0, 3.0, 5.0])  # neighbours that are gaps are left out


def test_the_linreg_loss_curve_draws_the_losses_alone(tmp_path, monkeypatch):
    """A full-batch loss has no noise: the picture shows it, with no smoothed line beside it."""
    import models.linreg_run as linreg_run

    asked = []
    monkeypatch.setattr(linreg_run, "plot_loss_curve", lambda *args, **kwargs: asked.append(kwargs))
    linreg_run.run_linreg("sgd", steps=50, out=tmp_path, echo=lambda line: None)
    assert [kwargs.get("smoothed", True) for kwargs in asked] == [False]
    plot_loss_curve(read_metrics(tmp_path / "metrics.jsonl"), tmp_path / "loss.png", smoothed=False)
    assert is_png(tmp_path / "loss.png")
