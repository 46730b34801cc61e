"""A data-prep job requeued by Slurm mid-run resumes from its committed shards and ends with exactly the output of an
uninterrupted run: no document lost, none duplicated (issue 8)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from tests.helpers.dataprep_corpus import committed_shards, write_sample_corpus

pytestmark = pytest.mark.slurm
REPO = Path(__file__).resolve().parents[2]


def overrides(root: Path, corpus: Path) -> list[str]:
    return [
        f"launch.root={root}",
        f"data.sources=[{{path: '{corpus}/*.jsonl'}}]",
        "data_prep.curate=false",
        "data_prep.workers=1",
        "data_prep.shard_bytes=262144",
        "data_prep.drop_missing=true",
    ]


def launch(*args):
    return subprocess.run(
        [sys.executable, "-m", "recipes.data_prep", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        env={**os.environ, "COLUMNS": "250"},
    )


def sequences(artifact: Path) -> dict[str, list[list[int]]]:
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    out = {}
    for idx in sorted(artifact.glob("*.idx")):
        dataset = IndexedDataset(str(idx.with_suffix("")))
        out[idx.stem] = [np.asarray(dataset[i]).tolist() for i in range(len(dataset))]
    return out


def test_requeued_data_prep_resumes_without_losing_or_duplicating_documents(tmp_path):
    corpus = tmp_path / "corpus"
    documents = write_sample_corpus(corpus, docs_per_lang=6000)

    reference = launch(*overrides(tmp_path / "reference", corpus))  # cluster=local: uninterrupted
    assert reference.returncode == 0, reference.stderr[-3000:]
    expected = sequences(tmp_path / "reference" / "smoke" / "data_prep" / "artifact")
    assert sum(len(docs) for docs in expected.values()) == documents

    root = tmp_path / "slurm"
    out = launch(*overrides(root, corpus), "cluster=slurm", "cluster.containers.cpu=null", "launch.detach=true")
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir = root / "smoke" / "data_prep"
    artifact = run_dir / "artifact"
    deadline = time.monotonic() + 300
    while not committed_shards(artifact) and time.monotonic() < deadline:
        time.sleep(0.1)
    job_id = json.loads((run_dir / "status.json").read_text())["slurm_job_id"]
    done_before = len(committed_shards(artifact))
    subprocess.run(["scontrol", "requeue", job_id], check=True)

    while (
        json.loads((run_dir / "status.json").read_text()).get("restart_count", 0) < 1
        or json.loads((run_dir / "status.json").read_text())["state"] == "running"
    ):
        assert time.monotonic() < deadline, "the requeued job did not finish"
        time.sleep(0.5)
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "succeeded", status
    assert status["restart_count"] == 1 and status["slurm_job_id"] == job_id

    summary = json.loads((artifact / "tokens.json").read_text())
    assert 0 < done_before < summary["shards"], "the requeue did not land mid-run"
    assert summary["shards_skipped"] >= done_before  # the second attempt redid no committed shard
    assert sequences(artifact) == expected  # same documents, same order, each exactly once


def test_a_cancelled_job_is_recorded_stopped_with_where_it_resumes(tmp_path):
    """scancel (and Slurm at the time limit) sends the job SIGTERM: the stage said "running" for ever."""
    corpus = tmp_path / "corpus"
    write_sample_corpus(corpus, docs_per_lang=3000)
    root = tmp_path / "slurm"
    out = launch(*overrides(root, corpus), "cluster=slurm", "cluster.containers.cpu=null", "launch.detach=true")
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir = root / "smoke" / "data_prep"
    deadline = time.monotonic() + 300
    while not committed_shards(run_dir / "artifact") and time.monotonic() < deadline:
        time.sleep(0.1)
    job_id = json.loads((run_dir / "status.json").read_text())["slurm_job_id"]
    subprocess.run(["scancel", job_id], check=True)
    deadline = time.monotonic() + 60
    while json.loads((run_dir / "status.json").read_text())["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "stopped", status
    assert status["error"].startswith("stopped by SIGTERM; newest complete checkpoint: none in ")
    assert (
        f"log: {root / 'smoke' / '.nemo_run'}" in status["error"]
    )  # the job's own log, found as recipes.submit.status does
    assert status["error"].endswith("; run the stage again to resume")


def test_a_job_killed_by_sigkill_is_recorded_failed_by_the_launcher(tmp_path):
    """What the OOM killer does: nothing in the job can record it; the launcher that waits for it does."""
    corpus = tmp_path / "corpus"
    write_sample_corpus(corpus, docs_per_lang=3000)
    root = tmp_path / "slurm"
    errors = (tmp_path / "launcher.err").open("w+")
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "recipes.data_prep",
            *overrides(root, corpus),
            "cluster=slurm",
            "cluster.containers.cpu=null",
            "launch.detach=false",
            "cluster.retries=0",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=errors,
        env={**os.environ, "COLUMNS": "250"},
    )
    run_dir = root / "smoke" / "data_prep"
    deadline = time.monotonic() + 300
    while not committed_shards(run_dir / "artifact") and time.monotonic() < deadline:
        time.sleep(0.1)
    job_id = json.loads((run_dir / "status.json").read_text())["slurm_job_id"]

    def is_runner(proc: psutil.Process) -> bool:  # srun names it too, and a pool worker is a fork of it
        try:
            cmdline = proc.cmdline()
        except psutil.Error:  # ended, a zombie, or not ours to read
            return False
        return (
            bool(cmdline)
            and cmdline[0] == sys.executable
            and "recipes.runtime.stage_runner" in cmdline
            and str(run_dir) in cmdline
        )

    (runner,) = [p for p in psutil.process_iter() if is_runner(p) and not is_runner(p.parent())]
    runner.send_signal(signal.SIGKILL)  # the job's task: the local Slurm runs it on this machine
    assert launcher.wait(timeout=120) == 1
    errors.seek(0)
    stderr = errors.read()
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "failed" and status["slurm_job_id"] == job_id, status
    assert status["error"].startswith("the job ended without recording its end (Slurm: ")
    assert "newest complete checkpoint: none in " in status["error"]
    assert "error: stage data_prep failed: the job ended without recording its end" in stderr
