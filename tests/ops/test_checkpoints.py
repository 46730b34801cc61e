"""Half-written checkpoints are never chosen; cleanup never removes the newest complete one."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from recipes.artifacts.checkpoints import (
    MARKER,
    complete_checkpoints,
    keep_last_n,
    megatron_latest_iteration,
    newest_complete,
    writing_checkpoint,
)

REPO = Path(__file__).resolve().parents[2]


def _save(parent: Path, step: int, payload: bytes = b"weights") -> Path:
    with writing_checkpoint(parent, f"step_{step:07d}", step=step, consumed_samples=step * 32) as tmp:
        (tmp / "model").mkdir()
        (tmp / "model" / "shard0.bin").write_bytes(payload * step)
    return parent / f"step_{step:07d}"


def test_complete_checkpoint_has_marker_and_final_name(tmp_path):
    path = _save(tmp_path, 10)
    newest = newest_complete(tmp_path)
    assert newest is not None and newest.path == path
    assert (newest.step, newest.consumed_samples) == (10, 320)
    assert newest.files == {"model/shard0.bin": len(b"weights") * 10}
    assert not any(".tmp-" in p.name for p in tmp_path.iterdir())


def test_failure_inside_write_leaves_nothing(tmp_path):
    _save(tmp_path, 1)
    with pytest.raises(RuntimeError):
        with writing_checkpoint(tmp_path, "step_0000002", step=2, consumed_samples=64) as tmp:
            (tmp / "part").write_bytes(b"x")
            raise RuntimeError("node died")
    assert [p.name for p in tmp_path.iterdir()] == ["step_0000001"]
    assert newest_complete(tmp_path).step == 1


def test_half_written_checkpoints_are_never_chosen(tmp_path):
    good = _save(tmp_path, 5)
    # a newer directory without a marker
    (tmp_path / "step_0000009").mkdir()
    (tmp_path / "step_0000009" / "shard0.bin").write_bytes(b"partial")
    # a newer temp directory that even has a marker (rename not done yet)
    tmp_dir = tmp_path / "step_0000010.tmp-4242"
    tmp_dir.mkdir()
    (tmp_dir / MARKER).write_text(json.dumps({"step": 10, "consumed_samples": 1, "timestamp": "t", "files": {}}))
    # a newer one whose marker lists a file that is missing, and one whose file was truncated
    missing = _save(tmp_path, 7)
    (missing / "model" / "shard0.bin").unlink()
    truncated = _save(tmp_path, 8)
    (truncated / "model" / "shard0.bin").write_bytes(b"short")
    # a newer one with a damaged marker
    damaged = _save(tmp_path, 11)
    (damaged / MARKER).write_text("{not json")
    assert newest_complete(tmp_path).path == good
    assert [c.step for c in complete_checkpoints(tmp_path)] == [5]


def test_killed_writer_process_leaves_only_temp_dir(tmp_path):
    script = (
        "import sys, time; from pathlib import Path; from recipes.artifacts.checkpoints import writing_checkpoint\n"
        "with writing_checkpoint(Path(sys.argv[1]), 'step_0000003', step=3, consumed_samples=96) as tmp:\n"
        "    (tmp / 'shard0.bin').write_bytes(b'x' * 1000); print('writing', flush=True); time.sleep(60)\n"
    )
    _save(tmp_path, 2)
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert (tmp_path / f"step_0000003.tmp-{proc.pid}").is_dir()
    assert newest_complete(tmp_path).step == 2


def test_keep_last_n_never_deletes_newest_complete(tmp_path):
    for step in (1, 2, 3, 4):
        _save(tmp_path, step)
    (tmp_path / "step_0000005.tmp-99").mkdir()  # a save in progress is not touched
    deleted = keep_last_n(tmp_path, 2)
    assert sorted(p.name for p in deleted) == ["step_0000001", "step_0000002"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_0000003", "step_0000004", "step_0000005.tmp-99"]
    keep_last_n(tmp_path, 1)
    assert newest_complete(tmp_path).step == 4
    with pytest.raises(ValueError, match="keep at least 1"):
        keep_last_n(tmp_path, 0)


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
