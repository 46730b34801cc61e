"""The rl and apo stages render NeMo-RL configs at launch (dry run): their values, their sbatch, their preflight,
and the loss objects the job builds from them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from recipes.posttrain.nemo_rl_entry import grpo_loss, preference_loss

REPO = Path(__file__).resolve().parents[2]


def run(*args, root):
    """A dry-run launch; upstream artifacts (the imported checkpoint, the pairs) need not exist for rendering, and
    the Slurm account and partition are placeholders."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            *args,
            f"launch.root={root}",
            "launch.check_paths=false",
            "cluster.account=acct",
            "cluster.partition=batch",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        timeout=300,
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for stage in ("rl", "apo"):
        out = run(f"recipes.{stage}", "experiment=sealion_v4_27b", "cluster=slurm", "launch.dryrun=true", root=root)
        assert out.returncode == 0, out.stderr
    return root / "sealion_v4_27b"


def test_27b_dr_grpo_config(rendered):
    config = yaml.safe_load((rendered / "rl" / "launch" / "nemo_rl.yaml").read_text())
    assert config["defaults"].endswith("examples/configs/grpo_math_1B.yaml")
    grpo, loss, policy = config["grpo"], config["loss_fn"], config["policy"]
    # Dr. GRPO: plain group-mean baseline, no std division, no KL, constant normaliser = max sequence length.
    assert grpo["normalize_rewards"] is False and grpo["use_leave_one_out_baseline"] is False
    assert loss["reference_policy_kl_penalty"] == 0.0
    assert loss["sealion"] == {"loss": "dr_grpo", "constant_normalizer": 16384}
    assert grpo["num_prompts_per_step"] * grpo["num_generations_per_prompt"] == policy["train_global_batch_size"]
    assert policy["model_name"] == "google/gemma-3-27b-it"
    assert policy["dtensor_cfg"]["enabled"] and policy["dtensor_cfg"]["tensor_parallel_size"] == 8
    assert policy["generation"]["vllm_cfg"]["tensor_parallel_size"] == 4
    assert config["cluster"] == {"gpus_per_node": 8, "num_nodes": 8}
    assert config["data"]["train_data_path"] == str(rendered / "rl" / "data" / "train.jsonl")

    fn = grpo_loss(loss)
    assert fn.config.aggregation == "constant" and fn.config.max_generation_length == 16384
    assert fn.config.reference_policy_kl_penalty == 0.0 and fn.config.ratio_clip_max == 0.2


def test_stock_grpo_renders_nemo_rl_defaults(tmp_path):
    out = run(
        "recipes.rl",
        "experiment=sealion_v4_27b",
        "cluster=slurm",
        "launch.dryrun=true",
        "rl.algorithm=grpo",
        root=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    config = yaml.safe_load((tmp_path / "sealion_v4_27b" / "rl" / "launch" / "nemo_rl.yaml").read_text())
    assert config["grpo"]["normalize_rewards"] is True and "sealion" not in config["loss_fn"]
    assert grpo_loss(config["loss_fn"]) is None  # NeMo-RL's ClippedPGLossFn stays


def test_27b_apo_config(rendered):
    config = yaml.safe_load((rendered / "apo" / "launch" / "nemo_rl.yaml").read_text())
    assert config["defaults"].endswith("examples/configs/dpo.yaml")
    assert config["dpo"]["sealion"] == {"loss": "apo_zero"} and config["dpo"]["reference_policy_kl_penalty"] == 0.1
    assert config["data"]["dataset_name"] == "BinaryPreferenceDataset"  # the rest: test_nemo_rl_conformance.py
    assert config["cluster"] == {"gpus_per_node": 8, "num_nodes": 4}
    fn = preference_loss(config["dpo"])
    assert fn.config.objective == "apo_zero" and fn.config.beta == 0.1


@pytest.mark.parametrize("stage,nodes", [("rl", 8), ("apo", 4)])
def test_sbatch_starts_a_ray_cluster_in_the_rl_container(rendered, stage, nodes):
    sbatch = (rendered / stage / "launch" / "sbatch.sh").read_text()
    assert f"#SBATCH --nodes={nodes}" in sbatch
    assert "ray start --head" in sbatch  # NeMo-Run's Ray-on-Slurm template: head, then workers
    assert "/shared/images/sealion-rl.sqsh" in sbatch
    assert f"python -m recipes.runtime.stage_runner --run-dir {rendered / stage}" in sbatch


@pytest.mark.parametrize(
    "override,field",
    [
        ("rl.generations_per_prompt=8", "rl.train_global_batch_size"),
        ("rl.generations_per_prompt=1", "rl.generations_per_prompt"),
        ("model.pipeline_model_parallel_size=2", "model.pipeline_model_parallel_size"),
        ("rl.generation_tensor_parallel_size=3", "rl.generation_tensor_parallel_size"),
    ],
)
def test_bad_rl_settings_fail_before_submission(tmp_path, override, field):
    out = run("recipes.rl", "experiment=sealion_v4_27b", "cluster=slurm", "launch.dryrun=true", override, root=tmp_path)
    assert out.returncode == 2
    assert f"error: {field}:" in out.stderr
    assert not (tmp_path / "sealion_v4_27b" / "rl" / "launch" / "sbatch.sh").exists()


def test_ifeval_dataset_routes_the_run_to_the_sea_environment(rendered):
    """The card's mix (DeepMath + Nemotron IF) is one training file, so one environment scores both kinds."""
    config = yaml.safe_load((rendered / "rl" / "launch" / "nemo_rl.yaml").read_text())
    assert config["data"]["env_name"] == "sea_ifeval" and config["data"]["prompt_file"] is None
    assert config["env"] == {"sea_ifeval": {"all_or_nothing": False}}
    from recipes.posttrain.environments import ScorerConfig

    assert ScorerConfig(**config["env"]["sea_ifeval"]) == ScorerConfig()  # what the actor is built from


def test_math_only_run_keeps_nemo_rl_math_environment(tmp_path):
    out = run(
        "recipes.rl",
        "experiment=sealion_v4_27b",
        "cluster=slurm",
        "launch.dryrun=true",
        "rl.datasets=[{name:dm,path:/data/dm.jsonl,env:math}]",
        root=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    config = yaml.safe_load((tmp_path / "sealion_v4_27b" / "rl" / "launch" / "nemo_rl.yaml").read_text())
    assert config["data"]["env_name"] == "math"
    assert config["data"]["prompt_file"] == "/opt/nemo-rl/examples/prompts/cot.txt"  # beside the base config
    assert config["env"] == {"math": {"num_workers": 8, "math_verify_impl": "hf_math_verify"}}


def test_unknown_reward_environment_fails_before_submission(tmp_path):
    out = run(
        "recipes.rl",
        "experiment=sealion_v4_27b",
        "cluster=slurm",
        "launch.dryrun=true",
        "rl.datasets=[{name:code,path:/data/code.jsonl,env:code}]",
        root=tmp_path,
    )
    assert out.returncode == 2 and "error: rl.datasets[0].env: 'code' is not a reward environment" in out.stderr
