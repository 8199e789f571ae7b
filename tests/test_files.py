"""engine.files: atomic writes that keep permissions and leave no temporary file behind."""
import os

import pytest

from engine.files import atomic_write_bytes, write_all_or_nothing


def test_atomic_write_bytes_replaces_content_and_keeps_permissions(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["file.bin"]
    assert target.stat().st_mode & 0o777 == 0o640
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"")
    atomic_write_bytes(tmp_path / "new.bin", b"x")
    assert (tmp_path / "new.bin").stat().st_mode == plain.stat().st_mode


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path, monkeypatch):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["file.bin"]


def test_write_all_or_nothing_writes_every_file(tmp_path):
    files = {tmp_path / "a" / "b" / "one.bin": b"1", tmp_path / "two.txt": b"22"}
    write_all_or_nothing(files)
    assert {path: path.read_bytes() for path in files} == files


def test_write_all_or_nothing_leaves_nothing_when_one_file_fails(tmp_path):
    (tmp_path / "old.txt").write_bytes(b"old")
    (tmp_path / "blocker").write_bytes(b"a file where a folder is needed")
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(OSError):
        write_all_or_nothing({tmp_path / "new" / "deep" / "x.bin": b"x", tmp_path / "old.txt": b"new",
                              tmp_path / "blocker" / "y.bin": b"y"})
    assert sorted(tmp_path.rglob("*")) == before and (tmp_path / "old.txt").read_bytes() == b"old"
