"""`models.safe_pickle`: plain data loads; classes, functions and external references never do."""
import collections
import os
import pickle

import pytest

from models.safe_pickle import UnsafePickleError, load_plain_pickle


def write(tmp_path, data, name="meta.pkl"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


class RunsCode:
    """Unpickling this with a normal unpickler would create the file `pwned`."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


class Pid(pickle.Pickler):
    def persistent_id(self, obj):
        return "external" if obj == "secret" else None


def persistent_pickle():
    import io
    buffer = io.BytesIO()
    Pid(buffer).dump({"a": "secret"})
    return buffer.getvalue()


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_nanogpts_meta_loads(tmp_path, protocol):
    meta = {"vocab_size": 3, "itos": {0: "a", 1: "b", 2: "\n"}, "stoi": {"a": 0, "b": 1, "\n": 2},
            "extra": [1.5, None, True, ("x", -7)]}
    assert load_plain_pickle(write(tmp_path, pickle.dumps(meta, protocol=protocol))) == meta


@pytest.mark.parametrize("data, message", [
    (pickle.dumps(RunsCode()), "asks for posix.system"),
    (pickle.dumps({"a": collections.OrderedDict()}), "asks for collections.OrderedDict"),
    (pickle.dumps({1, 2}), "holds a set"),
    (pickle.dumps(b"bytes"), "holds a bytes"),
    (persistent_pickle(), "outside the file"),
    (pickle.dumps({"a": list(range(100))})[:-20], "not a readable pickle"),
    (b"", "not a readable pickle"),
])
def test_anything_but_plain_data_is_refused(tmp_path, monkeypatch, data, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnsafePickleError, match=message):
        load_plain_pickle(write(tmp_path, data))
    assert not (tmp_path / "pwned").exists()


def test_big_files_are_refused_before_reading(tmp_path):
    with pytest.raises(UnsafePickleError, match="more than the 100 a vocabulary needs"):
        load_plain_pickle(write(tmp_path, pickle.dumps("x" * 200)), max_bytes=100)


def test_shared_structure_is_walked_once(tmp_path):
    """Forty levels of [x, x]: 2**40 paths through a 40-list structure; the walk visits 40 lists."""
    x = ["leaf"]
    for _ in range(40):
        x = [x, x]
    loaded = load_plain_pickle(write(tmp_path, pickle.dumps(x)))
    for _ in range(40):
        assert loaded[0] is loaded[1]
        loaded = loaded[0]
    assert loaded == ["leaf"]
