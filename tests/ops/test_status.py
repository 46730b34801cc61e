"""recipes.submit.status on a run directory built like the launcher and NeMo-Run build it (no Slurm needed)."""

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from recipes.artifacts.checkpoints import MEGATRON_TRACKER
from recipes.submit.status import StatusSettings, collect, last_iteration, run

REPO = Path(__file__).resolve().parents[2]


def _megatron_line(it: int, total: int, loss: float) -> str:
    # the format of Megatron's training_log
    return (
        f" [2026-11-22 10:{it % 60:02d}:00] iteration {it:8d}/{total:8d} | consumed samples: {it * 32:12d} | "
        f"elapsed time per iteration (ms): 1523.4 | learning rate: 1.000000E-05 | global batch size:    32 | "
        f"lm loss: {loss:.6E} | loss scale: 1.0 | grad norm: 1.234 | number of skipped iterations:   0 | "
        f"number of nan iterations:   0 |"
    )


def _make_run(root: Path) -> Path:
    run_dir = root / "demo"
    cpt = run_dir / "cpt"
    cpt.mkdir(parents=True)
    (cpt / "resolved.yaml").write_text("stage:\n  name: cpt\ncheckpoint:\n  save: null\n")
    (cpt / "manifest.json").write_text("{}")
    (cpt / "status.json").write_text(json.dumps({"state": "running", "restart_count": 2, "slurm_job_id": "4711"}))
    ckpts = cpt / "checkpoints"
    for step in (100, 200, 300):
        (ckpts / f"iter_{step:07d}").mkdir(parents=True)
        (ckpts / f"iter_{step:07d}" / "shard.bin").write_bytes(b"w")
    (ckpts / MEGATRON_TRACKER).write_text("200\n")  # iter_0000300 is being written
    job_dir = run_dir / ".nemo_run" / "experiments" / "demo-cpt" / "demo-cpt_1763800000" / "cpt"
    job_dir.mkdir(parents=True)
    lines = ["setup ..."] + [_megatron_line(it, 1000, 3.0 - it / 1000) for it in (10, 20, 250)] + ["saving"]
    (job_dir / "log-demo.cpt_4711_2.out").write_text("\n".join(lines) + "\n")

    sft = run_dir / "sft"
    sft.mkdir()
    (sft / "resolved.yaml").write_text(f"checkpoint:\n  save: {root / 'elsewhere'}\n")
    (run_dir / ".nemo_run" / ".slurm_jobs").write_text(
        f"4712 = ls,{run_dir / '.nemo_run/experiments/demo-cpt/demo-cpt_1763800000/sft'},LocalTunnel,{{}}\n"
    )
    return run_dir


def test_last_iteration_parses_megatron_lines():
    lines = [_megatron_line(5, 50, 4.5), "noise", _megatron_line(6, 50, 4.25), "validation loss at iteration 6"]
    assert last_iteration(lines) == (6, 50, 4.25)
    assert last_iteration(["no training yet"]) is None


def test_status_without_sacct_is_unknown_with_reason(tmp_path, monkeypatch):
    run_dir = _make_run(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    cpt, sft = collect(run_dir, tail=2)
    assert (cpt.stage, cpt.job_id, cpt.state) == ("cpt", "4711", "unknown")
    assert "sacct not found" in cpt.reason
    assert cpt.restarts == 2
    assert cpt.checkpoint_step == 200  # iter_0000300, above the tracker, is still being written
    assert (cpt.step, cpt.train_iters, cpt.loss) == (250, 1000, 2.75)
    assert cpt.log_tail[-1] == "saving" and len(cpt.log_tail) == 2
    assert sft.job_id == "4712"  # from NeMo-Run's ledger: the job has not started yet
    assert sft.checkpoint is None and sft.step is None


def test_status_reads_sacct(tmp_path, monkeypatch):
    _make_run(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sacct = bin_dir / "sacct"
    # a stand-in sacct answering like Slurm 22.05 for -X --duplicates --parsable2 --noheader: one row per requeue
    sacct.write_text(
        f'#!/bin/sh\necho "$@" >> {tmp_path}/sacct.args\n'
        'case "$*" in *4711*) printf \'4711|REQUEUED|00:10:00|0:0\\n4711|REQUEUED|00:20:00|0:0\\n'
        "4711|REQUEUED|00:01:00|0:0\\n4711|RUNNING|01:02:03|0:0\\n';; "
        "*) echo '4712|PENDING|00:00:00|0:0';; esac\n"
    )
    sacct.chmod(sacct.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    console = Console(record=True, width=200)
    cpt, sft = run(StatusSettings(run="demo", root=str(tmp_path)), console=console)
    assert (cpt.state, cpt.restarts, sft.state) == ("RUNNING", 3, "PENDING")
    assert "--duplicates" in (tmp_path / "sacct.args").read_text()
    text = console.export_text()
    assert "RUNNING" in text and "250/1000" in text and "2.7500" in text


def test_cli_errors_on_unknown_run(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "recipes.status", "nope", "--root", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "neither a directory nor a run" in result.stderr


@pytest.mark.slurm
def test_status_of_a_real_requeued_slurm_job(tmp_path):
    """A real job on the local Slurm that requeues itself once: state and restart count come from sacct."""
    script = 'if [ "${SLURM_RESTART_COUNT:-0}" -eq 0 ]; then scontrol requeue "$SLURM_JOB_ID"; sleep 120; fi'
    job_id = subprocess.run(
        ["sbatch", "--parsable", "--requeue", f"--output={tmp_path}/slurm-%j.out", "--wrap", script],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stage = tmp_path / "run" / "data_prep"
    stage.mkdir(parents=True)
    (stage / "resolved.yaml").write_text("checkpoint: {}\n")
    (stage / "status.json").write_text(json.dumps({"state": "running", "slurm_job_id": job_id}))
    deadline = time.monotonic() + 240
    while True:
        (status,) = collect(stage.parent)
        if status.state == "COMPLETED" or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert (status.state, status.restarts) == ("COMPLETED", 1), status
