"""Half-written checkpoints are never chosen; cleanup never removes the newest complete one. The directories are laid
out as Megatron writes them: `iter_NNNNNNN/` and `latest_checkpointed_iteration.txt`, updated after each save."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recipes.artifacts.checkpoints import (
    MEGATRON_TRACKER,
    complete_checkpoints,
    keep_last_n,
    megatron_latest_iteration,
    newest_complete,
)

REPO = Path(__file__).resolve().parents[2]


def _save(parent: Path, step: int) -> Path:
    """A finished Megatron save of iteration `step`: its directory, then the tracker naming it."""
    path = parent / f"iter_{step:07d}"
    path.mkdir(parents=True)
    (path / ".metadata").write_bytes(b"m")
    (parent / MEGATRON_TRACKER).write_text(f"{step}\n")
    return path


def test_half_written_checkpoints_are_never_chosen(tmp_path):
    good = _save(tmp_path, 5)
    (tmp_path / "iter_0000009").mkdir()  # a newer save in progress: the tracker still says 5
    (tmp_path / "iter_0000009" / ".metadata").write_bytes(b"partial")
    (tmp_path / "iter_0000003").mkdir()  # an older directory left empty
    (tmp_path / "notes").mkdir()  # not a checkpoint name
    assert newest_complete(tmp_path).path == good
    assert [c.step for c in complete_checkpoints(tmp_path)] == [5]


def test_keep_last_n_never_deletes_newest_complete(tmp_path):
    for step in (1, 2, 3, 4):
        _save(tmp_path, step)
    (tmp_path / "iter_0000005").mkdir()  # a save in progress is not touched
    (tmp_path / "iter_0000005" / ".metadata").write_bytes(b"partial")
    deleted = keep_last_n(tmp_path, 2)
    assert sorted(p.name for p in deleted) == ["iter_0000001", "iter_0000002"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "iter_0000003",
        "iter_0000004",
        "iter_0000005",
        MEGATRON_TRACKER,
    ]
    keep_last_n(tmp_path, 1)
    assert newest_complete(tmp_path).step == 4
    with pytest.raises(ValueError, match="keep at least 1"):
        keep_last_n(tmp_path, 0)


def test_release_is_step_zero_only_when_tracked(tmp_path):
    (tmp_path / "release").mkdir()
    (tmp_path / MEGATRON_TRACKER).write_text("release")
    assert newest_complete(tmp_path).step == 0
    (tmp_path / MEGATRON_TRACKER).write_text("7")
    assert newest_complete(tmp_path) is None


def test_megatron_directories_follow_the_tracker_file(tmp_path):
    for it in (100, 200, 300):
        (tmp_path / f"iter_{it:07d}").mkdir()
        (tmp_path / f"iter_{it:07d}" / ".metadata").write_bytes(b"m")
    assert megatron_latest_iteration(tmp_path) is None
    assert newest_complete(tmp_path) is None  # no tracker: Megatron has not finished any save
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("200\n")
    # iter_0000300 is being written: the tracker still says 200
    assert megatron_latest_iteration(tmp_path) == 200
    assert newest_complete(tmp_path).path.name == "iter_0000200"
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("garbage")
    with pytest.raises(ValueError, match="iteration number or 'release'"):
        megatron_latest_iteration(tmp_path)


def test_cli_reports_newest(tmp_path):
    _save(tmp_path, 3)
    out = subprocess.run(
        [sys.executable, "-m", "recipes.checkpoints", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["step"] == 3
    empty = subprocess.run(
        [sys.executable, "-m", "recipes.checkpoints", str(tmp_path / "none")], cwd=REPO, capture_output=True, text=True
    )
    assert empty.returncode == 1 and "no complete checkpoint" in empty.stdout
