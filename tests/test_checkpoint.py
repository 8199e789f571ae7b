"""Checkpoints: exact round trips and refusal of bad or foreign files."""

import json
import os
import pathlib
import pickle
import zipfile

import numpy as np
import pytest
from safetensors.numpy import save_file

from models import checkpoint
from models.checkpoint import CheckpointError, check_compatible, load_checkpoint, restore_rng, save_checkpoint
from optim import flatten_state_dict, unflatten_state_dict


def assert_identical(actual, expected, where="value"):
    """Equal values of equal types, recursively; floats compared bit for bit."""
    assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
    if isinstance(expected, dict):
        assert list(actual) == list(expected), where
        for key in expected:
            assert_identical(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_identical(a, e, f"{where}[{i}]")
    elif isinstance(expected, np.ndarray):
        assert actual.dtype == expected.dtype and actual.shape == expected.shape, where
        assert actual.tobytes() == expected.tobytes(), where
    elif isinstance(expected, float):
        assert actual.hex() == expected.hex(), where
    else:
        assert actual == expected, where


def optimizer_state():
    rng = np.random.default_rng(0)
    return {
        "state": {
            0: {"step": 3, "exp_avg": rng.standard_normal((4, 3)).astype(np.float32),
                "exp_avg_sq": rng.random((4, 3)).astype(np.float32)},
            1: {"step": 3, "exp_avg": np.zeros(3, np.float32), "exp_avg_sq": np.ones(3, np.float32)},
        },
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.99), "eps": 1e-8, "weight_decay": 0.1,
                          "amsgrad": False, "params": [0, 1]}],
    }


@pytest.fixture
def saved(tmp_path):
    """A small valid checkpoint: its path, tensors and meta."""
    tensors = {"model.w": np.arange(12, dtype=np.float32).reshape(3, 4), "model.b": np.ones(4)}
    meta = {"kind": "bigram", "step": 41, "config": {"vocab_size": 65}}
    path = tmp_path / "checkpoint.safetensors"
    save_checkpoint(path, tensors, meta)
    return path, tensors, meta


def test_round_trip_is_exact(tmp_path):
    tensors = {
        "model.f32": np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32),
        "model.f64": np.array([0.1, -0.0, np.inf, np.nan, 5e-324]),
        "model.f16": np.arange(6, dtype=np.float16).reshape(2, 3),
        "model.i64": np.array([-(2**62), 0, 2**62], dtype=np.int64),
        "model.i32": np.arange(4, dtype=np.int32),
        "model.u8": np.arange(250, 256, dtype=np.uint8),
        "model.mask": np.tril(np.ones((3, 3), dtype=bool)),
        "model.scalar": np.array(7, dtype=np.int64),
        "model.empty": np.zeros((0, 4), np.float32),
    }
    meta = {"kind": "gpt", "step": 2000, "lr": 0.1 + 0.2, "tiny": 1e-300, "neg_zero": -0.0,
            "inf": float("inf"), "nan": float("nan"), "big": 2**127 + 5, "flags": [True, None, "é"],
            "config": {"n_layer": 4, "betas": (0.9, 0.99), "nested": ((1, 2), [3])},
            "by_int": {0: "a", 1: (2, 3)}, "mixed": {"x": 1, 2: "y"},
            "__tuple__": "a user key that looks like a tag"}
    path = tmp_path / "ck.safetensors"
    save_checkpoint(path, tensors, meta)
    loaded_tensors, loaded_meta = load_checkpoint(path)
    assert_identical(dict(sorted(loaded_tensors.items())), dict(sorted(tensors.items())))
    assert_identical(loaded_meta, meta)


def test_odd_layouts_are_stored_as_plain_little_endian(tmp_path):
    base = np.arange(20, dtype=np.float32).reshape(4, 5)
    tensors = {"t": base[:, ::2], "be": np.arange(3, dtype=">i4")}
    save_checkpoint(tmp_path / "ck", tensors, {})
    loaded, _ = load_checkpoint(tmp_path / "ck")
    np.testing.assert_array_equal(loaded["t"], base[:, ::2])
    assert loaded["be"].dtype == np.dtype("<i4") and loaded["be"].tolist() == [0, 1, 2]


def test_optimizer_state_and_model_round_trip_through_flatten(tmp_path):
    state = optimizer_state()
    model = {"wte.weight": np.ones((5, 2), np.float32), "lm_head.weight": np.zeros((5, 2), np.float32)}
    optim_tensors, optim_skeleton = flatten_state_dict(state, prefix="optim.")
    model_tensors, model_skeleton = flatten_state_dict(model, prefix="model.")
    assert "optim.state.0.exp_avg" in optim_tensors and "model.wte.weight" in model_tensors
    meta = {"kind": "gpt", "optim": optim_skeleton, "model": model_skeleton}
    save_checkpoint(tmp_path / "ck", {**model_tensors, **optim_tensors}, meta)
    tensors, meta = load_checkpoint(tmp_path / "ck")
    assert_identical(unflatten_state_dict(tensors, meta["optim"]), state)
    assert_identical(unflatten_state_dict(tensors, meta["model"]), model)


def test_rng_state_continues_identically(tmp_path):
    rng = np.random.default_rng(1234)
    rng.standard_normal(10)
    save_checkpoint(tmp_path / "ck", {}, {"rng": rng.bit_generator.state})
    expected = (rng.integers(1000, size=8), rng.standard_normal(3))
    restored = restore_rng(load_checkpoint(tmp_path / "ck")[1]["rng"])
    np.testing.assert_array_equal(restored.integers(1000, size=8), expected[0])
    np.testing.assert_array_equal(restored.standard_normal(3), expected[1])
    with pytest.raises(CheckpointError, match="unsupported"):
        restore_rng({"bit_generator": "os.system"})


def test_unstorable_values_are_named():
    with pytest.raises(CheckpointError, match="'model.x' is a list"):
        save_checkpoint("unused", {"model.x": [1.0]}, {})
    with pytest.raises(CheckpointError, match="complex128"):
        save_checkpoint("unused", {"c": np.zeros(2, np.complex128)}, {})
    with pytest.raises(CheckpointError, match=r"meta\.config\.fn has type builtin_function_or_method"):
        save_checkpoint("unused", {}, {"config": {"fn": len}})
    with pytest.raises(CheckpointError, match="numpy array"):
        save_checkpoint("unused", {}, {"a": np.zeros(2)})


# --------------------------------------------------------------------- atomic

def test_failed_write_leaves_original_and_no_temp(saved, monkeypatch):
    path, tensors, meta = saved
    original = path.read_bytes()

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"model.w": np.zeros(1000)}, {"kind": "bigram"})
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    assert load_checkpoint(path)[1] == meta


def test_interrupted_write_of_new_file_leaves_nothing(tmp_path, monkeypatch):
    def interrupt(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "ck", {"w": np.zeros(3)}, {})
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------- refusals

def refused(path, *words):
    """Load must fail with a one-line CheckpointError naming the file and the words."""
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message, message
    for word in words:
        assert word in message, message
    return message


def test_refuses_missing_file_and_directory(tmp_path):
    refused(tmp_path / "nope.safetensors", "not found")
    refused(tmp_path, "directory")


def test_refuses_truncated_file(saved):
    path = saved[0]
    raw = path.read_bytes()
    for size in (len(raw) - 3, 20, 5):
        path.write_bytes(raw[:size])
        refused(path, "damaged")
    path.write_bytes(b"")
    refused(path, "empty")


def test_refuses_flipped_bit_in_tensor_data(saved):
    path = saved[0]
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x01
    path.write_bytes(bytes(raw))
    refused(path, "checksum")


def test_refuses_edited_metadata(saved):
    path = saved[0]
    raw = path.read_bytes()
    assert raw.count(b'\\"step\\":41') == 1
    path.write_bytes(raw.replace(b'\\"step\\":41', b'\\"step\\":42'))
    refused(path, "checksum")


class _Exploit:
    """Unpickling this would create the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def test_refuses_pickle_without_executing_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_Exploit(str(marker))))
    refused(path, "pickle")
    assert not marker.exists()


def test_refuses_torch_style_zip(tmp_path):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": [1.0]}))
    refused(path, "PyTorch")


def test_refuses_random_bytes(tmp_path):
    path = tmp_path / "noise.safetensors"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    refused(path, "not a valid safetensors file")


def test_refuses_foreign_safetensors(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"weight": np.ones(3, np.float32)}, str(path), metadata={"format": "pt"})
    refused(path, "not a stepgrad checkpoint")


def test_refuses_newer_format(tmp_path):
    path = tmp_path / "future.safetensors"
    header = {checkpoint.META_KEY: json.dumps({"kind": "gpt"}),
              checkpoint.FORMAT_KEY: str(checkpoint.FORMAT_VERSION + 1),
              checkpoint.CHECKSUM_KEY: "0" * 64}
    save_file({"w": np.ones(2)}, str(path), metadata=header)
    refused(path, "newer stepgrad", f"format {checkpoint.FORMAT_VERSION + 1}")


def test_wrong_model_kind_is_named(saved):
    path = saved[0]
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, expected_kind="gpt")
    assert str(info.value) == f"{path} holds a bigram model, not a gpt model"
    assert load_checkpoint(path, expected_kind="bigram")[1]["kind"] == "bigram"
    with pytest.raises(CheckpointError, match="no 'kind'"):
        check_compatible({}, "gpt")
