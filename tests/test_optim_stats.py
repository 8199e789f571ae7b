"""What a step did (track_stats / last_step_stats), pickle-free checkpoints, the trajectory picture."""
import json

import numpy as np
import pytest

import optim
from engine import Tensor


def named_params():
    rng = np.random.default_rng(1)
    return [("w", Tensor(rng.normal(size=(3, 2)), requires_grad=True)),
            ("b", Tensor(np.zeros(2), requires_grad=True)),
            ("unused", Tensor(np.ones(2), requires_grad=True))]


def give_grads(params):
    for _, p in params[:2]:
        p.grad = Tensor(np.full(p.shape, 0.5))


def test_nothing_is_recorded_by_default():
    params = named_params()
    opt = optim.Adam(params)
    give_grads(params)
    opt.step()
    with pytest.raises(RuntimeError, match="track_stats = True"):
        opt.last_step_stats()


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_rows_describe_each_parameter(name):
    params = named_params()
    kw = {"lr": 0.1, "momentum": 0.9} if name in ("sgd", "rmsprop") else {"lr": 0.1}
    opt = optim.create(name, params, **kw)
    opt.track_stats = True
    before = [p.data.copy() for _, p in params]
    give_grads(params)
    opt.step()
    rows = opt.last_step_stats()
    json.dumps(rows)  # plain data, ready for metrics.jsonl
    assert [r["name"] for r in rows] == ["w", "b", "unused"] and [r["index"] for r in rows] == [0, 1, 2]
    for row, (_, p), old in zip(rows, params, before):
        assert row["update_norm"] == pytest.approx(np.linalg.norm(p.data - old))
        assert row["param_norm"] == pytest.approx(np.linalg.norm(old))
        assert row["lr"] == 0.1
    assert rows[0]["ratio"] == pytest.approx(rows[0]["update_norm"] / rows[0]["param_norm"])
    assert rows[1]["ratio"] is None  # b started at zero
    assert rows[2]["grad_norm"] is None and rows[2]["update_norm"] == 0.0
    assert rows[0]["grad_norm"] == pytest.approx(0.5 * np.sqrt(6))


def test_adam_reports_bias_corrected_moments_and_effective_step():
    params = named_params()
    opt = optim.Adam(params, lr=0.01, betas=(0.9, 0.99))
    opt.track_stats = True
    for _ in range(3):
        give_grads(params)
        opt.step()
    row = opt.last_step_stats()[0]
    # a constant gradient 0.5: bias-corrected moments are exactly 0.5 and 0.25
    assert row["step"] == 3
    assert row["bias_correction1"] == pytest.approx(1 - 0.9 ** 3)
    assert row["bias_correction2"] == pytest.approx(1 - 0.99 ** 3)
    assert row["m_hat_norm"] == pytest.approx(0.5 * np.sqrt(6))
    assert row["v_hat_sqrt_mean"] == pytest.approx(0.5)
    assert row["effective_lr_median"] == pytest.approx(0.01 / (0.5 + 1e-8))
    assert row["update_norm"] == pytest.approx(0.01 * np.sqrt(6), rel=1e-6)


def test_second_order_stats():
    x = Tensor(np.array(-1.2), requires_grad=True)
    y = Tensor(np.array(1.0), requires_grad=True)
    for name in ("lbfgs", "newton"):
        opt = optim.create(name, [x, y])
        opt.track_stats = True

        def closure():
            opt.zero_grad()
            a, b = 1 - x, y - x * x
            loss = a * a + 100 * b * b
            loss.backward(create_graph=name == "newton")
            return loss

        opt.step(closure)
        rows = opt.last_step_stats()
        json.dumps(rows)
        assert len(rows) == 2 and rows[0]["update_norm"] > 0
        if name == "lbfgs":
            assert rows[0]["n_iter"] >= 1 and rows[0]["func_evals"] >= rows[0]["n_iter"]
        else:
            assert rows[0]["solver"] == "dense" and rows[0]["newton_decrement"] > 0


def test_optimizer_state_survives_safetensors_and_json(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    params = [p for _, p in named_params()]
    opt = optim.LBFGS(params, history_size=3)

    def closure():
        opt.zero_grad()
        loss = ((params[0] - 1) * (params[0] - 1)).sum() + (params[1] * params[1] * params[1] * params[1]).sum()
        loss.backward()
        return loss

    opt.step(closure)
    arrays, meta = optim.flatten_state_dict(opt.state_dict(), prefix="optim.")
    assert arrays and all(k.startswith("optim.state.0.") for k in arrays)
    path = tmp_path / "ckpt.safetensors"
    safetensors_numpy.save_file(arrays, str(path), metadata={"optim": json.dumps(meta)})
    loaded = safetensors_numpy.load_file(str(path))
    restored = optim.unflatten_state_dict(loaded, json.loads(json.dumps(meta)))
    opt2 = optim.LBFGS([Tensor(p.data.copy(), requires_grad=True) for p in params], history_size=3)
    opt2.load_state_dict(restored)
    st, st2 = opt.state[params[0]], opt2.state[opt2.param_groups[0]["params"][0]]
    assert st2["n_iter"] == st["n_iter"] and len(st2["old_dirs"]) == len(st["old_dirs"])
    np.testing.assert_array_equal(st2["prev_flat_grad"], st["prev_flat_grad"])
    with pytest.raises(ValueError, match="lacks"):
        optim.unflatten_state_dict({}, meta)


def test_scalar_parameters_keep_their_shape_through_safetensors(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    theta = Tensor(np.array(0.5), requires_grad=True)
    opt = optim.Adam([theta])
    theta.grad = Tensor(np.array(1.0))
    opt.step()
    arrays, meta = optim.flatten_state_dict(opt.state_dict())
    path = str(tmp_path / "scalar.safetensors")
    safetensors_numpy.save_file(arrays, path)
    loaded = safetensors_numpy.load_file(path)
    assert loaded["state.0.exp_avg"].shape == ()
    optim.Adam([Tensor(np.array(0.5), requires_grad=True)]).load_state_dict(optim.unflatten_state_dict(loaded, meta))


def test_lbfgs_state_shapes_are_checked():
    params = [p for _, p in named_params()]
    opt = optim.LBFGS(params)
    bad = {"state": {0: {"d": np.zeros(3), "n_iter": 1}}, "param_groups": opt.state_dict()["param_groups"]}
    with pytest.raises(ValueError, match=r"'d' has shape \(3,\), expected \(10,\)"):
        opt.load_state_dict(bad)


def test_plot_trajectories(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "optimizers.png"
    paths = optim.plot_trajectories(str(path), steps=40)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(paths) == {"rosenbrock", "quadratic"}
    assert set(paths["rosenbrock"]) == {"SGD", "Momentum", "Nesterov", "RMSprop", "Adam", "Newton"}
    np.testing.assert_allclose(paths["quadratic"]["Newton"][-1], [0.0, 0.0], atol=1e-12)
    assert len(paths["quadratic"]["Newton"]) == 2  # the single step, literally
    np.testing.assert_allclose(paths["rosenbrock"]["Newton"][-1], [1.0, 1.0], atol=1e-9)
    assert len(paths["rosenbrock"]["SGD"]) == 41


def test_flatten_refuses_two_arrays_with_one_key():
    with pytest.raises(ValueError, match="same key 'm.a.b'"):
        optim.flatten_state_dict({"a.b": np.zeros(1), "a": {"b": np.ones(1)}}, prefix="m.")


def test_unflatten_reads_the_mark_of_earlier_versions():
    """Before one helper served optimizers and checkpoints, `flatten_state_dict` marked arrays `__array__`."""
    arrays = {"optim.state.0.exp_avg": np.ones(2)}
    meta = {"state": {"0": {"exp_avg": {"__array__": "optim.state.0.exp_avg"}, "step": 1}}}
    restored = optim.unflatten_state_dict(arrays, meta)
    assert restored["state"]["0"]["exp_avg"] is arrays["optim.state.0.exp_avg"]
