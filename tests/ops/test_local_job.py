"""A local stage, started as a user starts it, and ended as users, the kernel and the OOM killer end it.

Before: Ctrl-C was ignored (the stage ran to the end, rc 0); SIGTERM or SIGKILL of the launcher left
`stage_runner` running on in its own session; a stage killed by a signal stayed "running" for ever; and the job
ran whatever `python` came first on PATH. Here a `python` that is not the launching interpreter comes first on
PATH in every run, real processes are signalled with os.kill, and the ends are read from status.json.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers.dataprep_corpus import committed_shards, write_sample_corpus

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("local_job") / "corpus"
    write_sample_corpus(directory, docs_per_lang=1500)
    return directory


@pytest.fixture
def wrong_python_first(tmp_path) -> dict[str, str]:
    """An environment whose PATH starts with a `python` that is not the launching interpreter."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text("#!/bin/sh\necho 'not the launching interpreter' >&2\nexit 3\n")
    (bin_dir / "python").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "250"}


def start(root: Path, corpus: Path, env: dict[str, str]) -> subprocess.Popen:
    args = [
        f"launch.root={root}",
        f"data.sources=[{{path: '{corpus}/*.jsonl'}}]",
        "data_prep.curate=false",
        "data_prep.workers=1",
        "data_prep.shard_bytes=65536",
        "data_prep.drop_missing=true",
    ]
    # A session of its own, like a shell's foreground job: the signals below reach the launcher alone.
    return subprocess.Popen(
        [sys.executable, "-m", "recipes.data_prep", *args],
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_shards(artifact: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180
    while not committed_shards(artifact) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None and committed_shards(artifact), "the stage must be stopped mid-run"


def stage_processes(run_dir: Path) -> list[psutil.Process]:
    """Every live process of the stage (the stage runner and its pool workers name the run directory)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] != psutil.STATUS_ZOMBIE and str(run_dir) in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def no_stage_process_within(run_dir: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while stage_processes(run_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not stage_processes(run_dir)


def status_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "status.json").read_text())


def test_ctrl_c_stops_the_whole_tree_records_stopped_and_the_rerun_resumes(tmp_path, corpus, wrong_python_first):
    run_dir = tmp_path / "smoke" / "data_prep"
    proc = start(tmp_path, corpus, wrong_python_first)
    wait_for_shards(run_dir / "artifact", proc)
    os.kill(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert no_stage_process_within(run_dir, 10)
    status = status_of(run_dir)
    assert status["state"] == "stopped", status
    assert status["error"].startswith("stopped by SIGTERM; newest complete checkpoint: none in ")
    assert status["error"].endswith(f"; log: {run_dir / 'logs' / 'stage.log'}; run the stage again to resume")
    assert "error: stage data_prep failed: stopped by SIGTERM" in stderr
    kept = len(committed_shards(run_dir / "artifact"))

    rerun = start(tmp_path, corpus, wrong_python_first)
    _, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr[-3000:]
    assert status_of(run_dir)["state"] == "succeeded"
    assert json.loads((run_dir / "artifact" / "tokens.json").read_text())["shards_skipped"] >= kept > 0


def test_a_job_killed_by_sigkill_is_recorded_failed_with_the_signal(tmp_path, corpus, wrong_python_first):
    """What the OOM killer does to the stage's process: the launcher records it and stops within seconds."""
    run_dir = tmp_path / "smoke" / "data_prep"
    proc = start(tmp_path, corpus, wrong_python_first)
    wait_for_shards(run_dir / "artifact", proc)
    (runner,) = [p for p in psutil.Process(proc.pid).children() if "recipes.runtime.stage_runner" in p.cmdline()]
    runner.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert no_stage_process_within(run_dir, 10)  # its orphaned pool worker too
    status = status_of(run_dir)
    assert status["state"] == "failed", status
    assert status["error"].startswith(
        "the job died of SIGKILL (out of memory? see dmesg) without recording an end; "
        "newest complete checkpoint: none in "
    )
    assert f"log: {run_dir / 'logs' / 'stage.log'}" in status["error"]
    assert "error: stage data_prep failed: the job died of SIGKILL" in stderr


def test_a_launcher_killed_by_sigkill_leaves_no_stage_running(tmp_path, corpus, wrong_python_first):
    """The kernel sends the job SIGTERM when its launcher dies (SIGTERM to the launcher is Ctrl-C's path)."""
    run_dir = tmp_path / "smoke" / "data_prep"
    proc = start(tmp_path, corpus, wrong_python_first)
    wait_for_shards(run_dir / "artifact", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert no_stage_process_within(run_dir, 30)
    status = status_of(run_dir)
    assert status["state"] == "stopped" and status["error"].startswith("stopped by SIGTERM"), status
