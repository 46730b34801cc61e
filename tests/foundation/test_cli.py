"""The command line as a user meets it: real `python -m recipes.<stage>` processes."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(*args, env=None, cwd=None):
    full_env = {**os.environ, "COLUMNS": "250", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, env=full_env, cwd=cwd or REPO, timeout=300
    )


@pytest.mark.parametrize(
    "args,first_words",
    [
        (["train.iterz=5"], "error: train.iterz: unknown key; did you mean train.eval_iters?"),
        (["train.global_batch_size=abc"], "error: train.global_batch_size: Value 'abc' of type 'str'"),
        (
            ["experiment=sealion_v4_27b", "cluster=slurm", "model.tensor_model_parallel_size=3", "launch.dryrun=true"],
            "error: model.tensor_model_parallel_size: TP=3 does not divide num_attention_heads=32",
        ),
    ],
)
def test_bad_input_exits_nonzero_with_one_line_and_submits_nothing(tmp_path, args, first_words):
    out = run("recipes.cpt", *args, f"launch.root={tmp_path}")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(first_words)
    assert list(tmp_path.iterdir()) == []  # no run directory, nothing rendered or queued


def test_dryrun_renders_27b_cpt_sbatch_without_secrets(tmp_path):
    # Drawn at run time: the dry run archives the repository (this file included) into the run directory.
    secret = f"hf_{secrets.token_hex(16)}"
    out = run(
        "recipes.cpt",
        "experiment=sealion_v4_27b",
        "cluster=slurm",
        "launch.dryrun=true",
        f"launch.root={tmp_path}",
        env={"HF_TOKEN": secret, "WANDB_API_KEY": secret + "w"},
    )
    assert out.returncode == 0, out.stderr
    run_dir = tmp_path / "sealion_v4_27b" / "cpt"
    assert str(run_dir) in out.stdout
    sbatch = (run_dir / "launch" / "sbatch.sh").read_text()
    assert "#SBATCH --nodes=16" in sbatch
    assert "#SBATCH --gpus-per-node=8" in sbatch
    assert "#SBATCH --ntasks-per-node=8" in sbatch
    assert "#SBATCH --signal=TERM@120" in sbatch
    assert "#SBATCH --kill-on-invalid-dep=yes" in sbatch
    assert "--container-image /shared/images/sealion-train.sqsh" in sbatch
    assert f"python -m recipes.runtime.stage_runner --run-dir {run_dir}" in sbatch
    assert "# secrets passed by name from the submitting environment: HF_TOKEN WANDB_API_KEY" in sbatch
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
    resolved = (run_dir / "resolved.yaml").read_text()
    assert "train_iters: 59605" in resolved


def test_manifest_records_lineage_inputs(tmp_path):
    out = run(
        "recipes.cpt", "experiment=sealion_v4_27b", "cluster=slurm", "launch.dryrun=true", f"launch.root={tmp_path}"
    )
    assert out.returncode == 0, out.stderr
    import json

    manifest = json.loads((tmp_path / "sealion_v4_27b" / "cpt" / "manifest.json").read_text())
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert manifest["git"]["commit"] == head
    assert isinstance(manifest["git"]["dirty"], bool)
    assert manifest["container_image"] == "/shared/images/sealion-train.sqsh"
    assert manifest["config"]["model"]["name"] == "gemma3_27b"
    assert manifest["stage"] == "cpt"


def test_cfg_job_prints_the_resolved_config():
    out = run("recipes.cpt", "experiment=sealion_v4_27b", "cluster=slurm", "--cfg", "job")
    assert out.returncode == 0, out.stderr
    assert "global_batch_size: 1024" in out.stdout
    assert "${" not in out.stdout  # resolved: no interpolations left


def test_help_lists_groups_and_examples():
    out = run("recipes.pipeline", "--help")
    assert out.returncode == 0
    assert "gemma3_27b" in out.stdout and "launch.dryrun=true" in out.stdout


def test_plan_prints_layout_and_fails_on_bad_layout():
    ok = run("recipes.plan", "experiment=sealion_v4_27b", "cluster=slurm", "stage=cpt")
    assert ok.returncode == 0, ok.stderr
    assert "TP8 x PP2 x CP1 x DP8" in ok.stdout
    assert "GPU-hours at 40% MFU" in ok.stdout
    bad = run(
        "recipes.plan",
        "experiment=sealion_v4_27b",
        "cluster=slurm",
        "stage=cpt",
        "model.pipeline_model_parallel_size=4",
    )
    assert bad.returncode == 2
    assert "model.pipeline_model_parallel_size: PP=4 does not divide num_layers=62" in " ".join(bad.stdout.split())
