"""models.files: atomic writes that keep permissions and leave no temporary file behind."""
import os

import pytest

from models.files import atomic_write_bytes


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
