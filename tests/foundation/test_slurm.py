"""Real jobs through the launcher onto the local single-node Slurm that tests/run.sh starts."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm
REPO = Path(__file__).resolve().parents[2]
# A CPU stage on the real sample corpus, on the Slurm cluster preset without a container image.
SLURM = ["cluster=slurm", "cluster.containers.cpu=null", "cluster.containers.eval=null", "launch.detach=false"]


def launch(module, *overrides, env=None):
    return subprocess.run(
        [sys.executable, "-m", module, *SLURM, *overrides],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
    )


def sacct(job_id):
    out = subprocess.run(
        ["sacct", "-n", "-P", "-X", "-j", str(job_id), "-o", "State,ExitCode"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return out.splitlines()[-1].split("|") if out else None


def test_a_stage_runs_as_a_real_slurm_job(tmp_path):
    out = launch("recipes.data_prep", f"launch.root={tmp_path}")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    run_dir = tmp_path / "smoke" / "data_prep"
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "succeeded"
    assert status["slurm_job_id"]
    assert (run_dir / "artifact").is_dir()
    logs = list((tmp_path / "smoke" / ".nemo_run").rglob(f"log-*_{status['slurm_job_id']}_0.out"))
    assert logs, "the job's srun log is where NeMo-Run says"
    state = sacct(status["slurm_job_id"])
    assert state[0] == "COMPLETED"


def test_retries_requeue_a_job_that_failed_once(tmp_path):
    """The first attempt fails for real (its config is moved away by a setup line); Slurm requeues it."""
    run_dir = tmp_path / "smoke" / "data_prep"
    flaky = tmp_path / "flaky.sh"
    flaky.write_text(f"""if [ "${{SLURM_RESTART_COUNT:-0}}" = 0 ]; then
  mv {run_dir}/resolved.yaml {run_dir}/resolved.yaml.hold
else
  mv -f {run_dir}/resolved.yaml.hold {run_dir}/resolved.yaml 2>/dev/null || true
fi
""")
    out = launch(
        "recipes.data_prep", f"launch.root={tmp_path}", "cluster.retries=2", f"cluster.setup_lines=['bash {flaky}']"
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "succeeded"
    assert status["restart_count"] == 1
    logs = sorted((tmp_path / "smoke" / ".nemo_run").rglob(f"log-*_{status['slurm_job_id']}_*.out"))
    assert [p.name.rsplit("_", 1)[1] for p in logs] == ["0.out", "1.out"]
    # the first attempt's one-line error names the file it missed (#29: OS errors are one line, not a traceback)
    assert f"error: {run_dir}/resolved.yaml: No such file or directory (" in logs[0].read_text()


def test_pipeline_chains_real_jobs_and_a_failed_stage_cancels_its_dependants(tmp_path):
    """data_prep -> merge -> eval with afterok: merge fails (no models to merge), so eval never runs."""
    out = launch(
        "recipes.pipeline",
        f"launch.root={tmp_path}",
        "run.name=chain",
        "pipeline.stages=[data_prep,merge,eval]",
        "cluster.retries=0",
    )
    assert out.returncode == 1
    assert "error: stage merge failed" in out.stderr
    root = tmp_path / "chain"
    assert json.loads((root / "data_prep" / "status.json").read_text())["state"] == "succeeded"
    assert json.loads((root / "merge" / "status.json").read_text())["state"] == "failed"
    assert not (root / "eval" / "status.json").exists()
    # NeMo-Run's ledger of submitted jobs: "<job id> = <log glob>,<job dir>,..."
    ledger = (root / ".nemo_run" / ".slurm_jobs").read_text().splitlines()
    (eval_job,) = [line.split(" = ")[0] for line in ledger if line.split(",")[1].endswith("/eval")]
    for _ in range(40):  # slurmctld cancels the dependant asynchronously, then accounting records it
        state = sacct(eval_job)
        if state:
            break
        time.sleep(0.5)
    assert state[0].startswith("CANCELLED"), state
    # The finished stage is a registered version whose manifest names the upstream wiring.
    record = json.loads((root / "data_prep" / "artifact" / "version.json").read_text())
    assert record["id"] == "chain-data_prep-0.1.0" and record["payload_kind"] == "indexed_dataset"
    assert json.loads((root / "merge" / "manifest.json").read_text())["parents"] == ["data_prep"]
