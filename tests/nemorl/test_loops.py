"""The rl and apo jobs through NeMo-RL v0.5.0's own training loops, on CPU.

The launcher renders the smoke experiment's rl / apo job for a Slurm cluster (its `launch/nemo_rl.yaml` and
`resolved.yaml`); the job then runs as on the cluster, `recipes.runtime.stage_runner` -> the stage's `execute` ->
`recipes.posttrain.nemo_rl_entry.run` (which swaps in the project's loss) -> NeMo-RL's unchanged
`examples/run_grpo.py` / `run_dpo.py` (its `load_config`, data classes and processors over the project's files,
`setup`, `grpo_train` / `dpo_train`, the `sea_ifeval` environment as a Ray actor on a local CPU Ray, its logger and
checkpoint manager) -> the artifact export.

Only the GPU side is replaced (tests/nemorl/cpu_workers.py): NeMo-RL's Ray virtual cluster, its DTensor policy
worker (a CPU policy that trains a 2-layer Gemma 3 with the real tokenizer and calls the loss as v0.5.0's DTensor
worker does) and vLLM (CPU sampling from the same model). This proves the driver-side contract (the keys the
loops read from the loss, the batches they hand it, the checkpoint and export layout), not the GPU workers.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from unittest import mock

import cpu_workers
import ray
import yaml
from conftest import LAUNCHER, REPO

# Short sequences keep CPU sampling (up to max_total_sequence_length tokens per prompt and answer) to seconds.
SEQUENCE = "64"


def render(stage: str, root: Path, model: Path, base: Path, *overrides: str) -> Path:
    """The launcher's dry run for a Slurm cluster (account/partition placeholders; upstream checks off)."""
    args = [
        str(LAUNCHER),
        "-m",
        f"recipes.{stage}",
        "experiment=smoke",
        "cluster=slurm",
        "launch.dryrun=true",
        f"launch.root={root}",
        f"run.input={model}",
        f"{stage}.nemo_rl_base={base}",
        f"{stage}.max_total_sequence_length={SEQUENCE}",
        "cluster.account=acct",
        "cluster.partition=batch",
        *overrides,
    ]
    out = subprocess.run(
        args, cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"}
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return root / "smoke" / stage


def run_job(run_dir: Path, home: Path, algorithm_module: str, generation: bool) -> None:
    """The job, with the GPU classes NeMo-RL's `setup` builds replaced by the CPU ones."""
    from recipes.posttrain import nemo_rl_entry
    from recipes.runtime import stage_runner

    replaced = {"RayVirtualCluster": cpu_workers.CpuCluster, "Policy": cpu_workers.CpuPolicy}
    if generation:
        replaced["VllmGeneration"] = cpu_workers.CpuGeneration
    cpu_workers.CALLS.clear()
    try:
        with mock.patch.multiple(algorithm_module, **replaced), mock.patch.object(nemo_rl_entry, "NEMO_RL_HOME", home):
            code = stage_runner.main(["--run-dir", str(run_dir)])
    finally:
        ray.shutdown()
    status = json.loads((run_dir / "status.json").read_text())
    assert code == 0, status


def test_rl_job_runs_grpo_train(tmp_path, tiny_gemma3, nemo_rl_home, ray_cluster):
    # Validation once, at the step that saves (val_period 2), on 2 held-out prompts: CPU sampling is the cost.
    run_dir = render(
        "rl",
        tmp_path,
        tiny_gemma3,
        nemo_rl_home / "examples/configs/grpo_math_1B.yaml",
        "rl.val_period=2",
        "rl.val_prompts=2",
    )
    config = yaml.safe_load((run_dir / "launch" / "nemo_rl.yaml").read_text())
    assert config["loss_fn"]["sealion"]["loss"] == "dr_grpo" and config["data"]["env_name"] == "sea_ifeval"

    run_job(run_dir, nemo_rl_home, "nemo_rl.algorithms.grpo", generation=True)

    # Math and IFEval prompts in one run: the math rows carry NeMo-RL's own math prompt (its cot.txt), the
    # IFEval rows none.
    rows = [json.loads(line) for name in ("train", "val") for line in (run_dir / "data" / f"{name}.jsonl").open()]
    first_line = (nemo_rl_home / "examples" / "prompts" / "cot.txt").read_text().format("").splitlines()[0]
    assert "boxed" in first_line
    for row in rows:
        if row["task_name"] == "math":
            assert row["input"].startswith(first_line), row
        else:
            assert "boxed" not in row["input"], row

    calls = cpu_workers.CALLS
    # Two steps, each: sample, score, log-probs, one optimizer step; validation (sampling) after the second.
    assert calls.count("train") == 2
    assert calls.count("generate") == 3
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").glob("step_*"))
    assert checkpoints == ["step_2"], checkpoints  # is_last_step saves (save_period 10)
    training_info = json.loads((run_dir / "checkpoints" / "step_2" / "training_info.json").read_text())
    assert training_info["total_steps"] == 2 and "val_reward" in training_info  # validation ran at the saved step
    # The stage's artifact: the exported Hugging Face model with its tokenizer.
    artifact = run_dir / "artifact"
    assert (artifact / "config.json").is_file() and (artifact / "tokenizer_config.json").is_file()


def test_apo_job_runs_dpo_train(tmp_path, tiny_gemma3, nemo_rl_home, ray_cluster):
    run_dir = render("apo", tmp_path, tiny_gemma3, nemo_rl_home / "examples/configs/dpo.yaml")
    config = yaml.safe_load((run_dir / "launch" / "nemo_rl.yaml").read_text())
    assert config["dpo"]["sealion"]["loss"] == "apo_zero"

    run_job(run_dir, nemo_rl_home, "nemo_rl.algorithms.dpo", generation=False)

    calls = cpu_workers.CALLS
    assert calls.count("train") == 2
    assert calls.count("eval") >= 1  # dpo.yaml validates at the start (val_at_start)
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").glob("step_*"))
    assert checkpoints == ["step_2"], checkpoints
    artifact = run_dir / "artifact"
    assert (artifact / "config.json").is_file() and (artifact / "tokenizer_config.json").is_file()
