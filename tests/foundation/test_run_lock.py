"""Issue #14, item 3: one live launcher per run directory; a dead one keeps nothing, its temporaries are cleaned."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recipes.submit import run_lock

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "COLUMNS": "250"}


def launcher(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", *args], cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(path: Path, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.2)


def end_of_input(fifo: Path, wait_s: float = 60) -> None:
    """Close the pipe's write end once its reader opened it (never blocks: no reader, no wait past wait_s)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            return
        except OSError:  # ENXIO: nobody reads it yet
            time.sleep(0.2)


def test_a_second_launcher_into_a_live_run_directory_is_refused(tmp_path):
    # The first run's input is a named pipe: its stage waits on it, so its launcher is live for as long as needed.
    fifo = tmp_path / "input.jsonl"
    os.mkfifo(fifo)
    first = launcher("recipes.data_prep", f"launch.root={tmp_path}", f"data.sources=[{{path: '{fifo}'}}]")
    run_dir = tmp_path / "smoke" / "data_prep"
    try:
        wait_for(run_dir / "resolved.yaml", first)  # written after the lock is taken
        resolved = (run_dir / "resolved.yaml").read_text()
        second = subprocess.run(
            [sys.executable, "-m", "recipes.data_prep", f"launch.root={tmp_path}", "launch.dryrun=true"],
            cwd=REPO,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert (run_dir / "resolved.yaml").read_text() == resolved  # the live run's config is untouched
    finally:
        end_of_input(fifo)  # the first run's stage finds no record and ends
        try:
            first.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            first.kill()
            raise
    assert second.returncode == 2, second.stdout + second.stderr
    (line,) = second.stderr.strip().splitlines()
    assert line.startswith(f"error: run.name: {run_dir} is in use by pid {first.pid} on ")
    assert "recipes/data_prep.py" in line and "fix: wait for that run to end" in line
    assert first.returncode == 1 and json.loads((run_dir / "status.json").read_text())["state"] == "failed"


def test_a_dead_holder_keeps_no_lock_and_its_temporaries_go(tmp_path):
    run_dir = tmp_path / "run" / "stage"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from recipes.submit import run_lock; run_lock.hold(Path(sys.argv[1])); print(1, flush=True); "
            "time.sleep(300)",
            str(run_dir),
        ],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "1"
        with pytest.raises(run_lock.RunDirBusy, match=f"in use by pid {holder.pid} "):
            run_lock.hold(run_dir)
        leftovers = [
            run_dir / "artifact" / "shards" / "a-00000.tmp",
            run_dir / "artifact" / "tokens.json.tmp",
            run_dir / "artifact" / "x__id.tmp.bin",
            run_dir / ".status.json.tmp",
        ]
        leftovers[0].mkdir(parents=True)
        (leftovers[0] / "counts.json").write_text("{}")
        for path in leftovers[1:]:
            path.write_text("partial")
        kept = run_dir / "artifact" / "shards" / "a-00001"
        kept.mkdir()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        run_lock.hold(run_dir)  # the kernel released the dead holder's lock
        run_lock.hold(run_dir)  # and this process may take it again
    finally:
        holder.kill()
    assert [p for p in leftovers if p.exists()] == [] and kept.is_dir()
    assert json.loads((run_dir / run_lock.LOCK_FILE).read_text())["pid"] == os.getpid()
