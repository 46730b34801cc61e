"""An atomic write replaces the file whole and leaves nothing beside it; a write that fails leaves the old file."""

import pytest

from recipes.core.atomic import write_text_atomic


def test_replaces_whole_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "status.json"
    target.write_text("old")
    write_text_atomic(target, '{"state": "running"}\n')
    assert target.read_text() == '{"state": "running"}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "version.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_text_atomic(target, None)  # not text: fails before anything is replaced
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["version.json"]


def test_a_binary_writer_that_raises_midway_leaves_the_old_file_and_no_temporary(tmp_path):
    from recipes.core.atomic import open_atomic

    target = tmp_path / "shard-00000.npy"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with open_atomic(target) as handle:
            handle.write(b"half of a new")
            raise RuntimeError("killed while writing")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["shard-00000.npy"]
    with open_atomic(target) as handle:
        handle.write(b"new")
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["shard-00000.npy"]
