"""The smoke experiment's rl and apo render runnable jobs (bundled prompts and pairs, preflight passes), on this
machine and for a Slurm cluster, where the job's container sees only launch.root and the cluster's mounts; and
preflight refuses what the job would stop on after its queue wait."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from recipes.engines.nemo_rl_config import with_math_prompt

REPO = Path(__file__).resolve().parents[2]


def launch(stage, root, *overrides):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            f"recipes.{stage}",
            "experiment=smoke",
            "launch.dryrun=true",
            f"launch.root={root}",
            *overrides,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        timeout=300,
    )


def test_smoke_rl_and_apo_pass_preflight_for_slurm_with_their_inputs_staged(tmp_path):
    slurm = ("cluster=slurm", "cluster.account=acct", "cluster.partition=batch")
    for stage in ("rl", "apo"):
        out = launch(stage, tmp_path, *slurm)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    rl, apo = tmp_path / "smoke" / "rl", tmp_path / "smoke" / "apo"
    # The model under HOME and the checkout's sample files are not in the container (--no-container-mount-home):
    # copied under the run (launch.root is mounted) and named there.
    config = yaml.safe_load((rl / "launch" / "nemo_rl.yaml").read_text())
    model = Path(config["policy"]["model_name"])
    assert model.parent == rl / "inputs" and (model / "config.json").is_file()
    assert (rl / "inputs" / "math.jsonl").read_bytes() == (REPO / "data_prep/sample_rl/math.jsonl").read_bytes()
    assert (rl / "inputs" / "ifeval.jsonl").is_file() and (apo / "inputs" / "pairs.jsonl").is_file()
    assert yaml.safe_load((apo / "launch" / "nemo_rl.yaml").read_text())["policy"]["model_name"].startswith(
        str(apo / "inputs")
    )


def test_smoke_rl_on_this_machine_reads_inputs_in_place(tmp_path):
    out = launch("rl", tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert not (tmp_path / "smoke" / "rl" / "inputs").exists()


@pytest.mark.parametrize(
    "override, field, fix",
    [
        ("rl.datasets=[]", "rl.datasets", "data_prep.rl_data"),
        ("rl.val_prompts=15", "rl.val_prompts", "lower rl.val_prompts"),  # 16 bundled prompts, 2 per step
    ],
)
def test_preflight_refuses_rl_without_a_step_of_prompts(tmp_path, override, field, fix):
    out = launch("rl", tmp_path, override)
    assert out.returncode != 0
    line = next(line for line in out.stderr.splitlines() if line.startswith(f"error: {field}:"))
    assert fix in line


def test_preflight_refuses_apo_pairs_held_out_past_a_step(tmp_path):
    out = launch("apo", tmp_path, "apo.val_pairs=7")  # 8 bundled pairs, 2 per step
    assert out.returncode != 0 and "error: apo.val_pairs:" in out.stderr


def test_math_prompt_is_applied_as_nemo_rls_processor_applies_prompt_file(tmp_path):
    # NeMo-RL's math_hf_data_processor: `prompt.format(problem)`; its cot.txt escapes the braces of \boxed{{}}.
    prompt = tmp_path / "cot.txt"
    prompt.write_text("Answer in \\boxed{{}}:\n{}\nThink.")
    source = tmp_path / "math.jsonl"
    source.write_text(json.dumps({"input": "1+1?", "output": "2", "task_name": "math"}) + "\n\n")
    rows = [json.loads(line) for line in with_math_prompt(source, prompt, tmp_path / "out.jsonl").open()]
    assert rows == [{"input": "Answer in \\boxed{}:\n1+1?\nThink.", "output": "2", "task_name": "math"}]
