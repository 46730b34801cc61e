"""The 27B rl and apo jobs keep the parallel layout of NeMo-RL v0.5.0's own tested Gemma 3 recipes: the rendered
config and the recipe, each loaded by NeMo-RL's `load_config` (its `defaults:` inheritance), agree on every layout
key except the deviations that conf/experiment_stage/sealion_v4_27b_rl.yaml states with their reasons."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import LAUNCHER, REPO
from omegaconf import OmegaConf

RECIPE = "examples/configs/recipes/llm/grpo-gemma3-27b-it-8n8g-fsdp2tp8-actckpt-long.yaml"
RL_STAGE_YAML = REPO / "conf" / "experiment_stage" / "sealion_v4_27b_rl.yaml"
LAYOUT = [
    "policy.dtensor_cfg.enabled",
    "policy.dtensor_cfg._v2",
    "policy.dtensor_cfg.tensor_parallel_size",
    "policy.dtensor_cfg.sequence_parallel",
    "policy.dtensor_cfg.activation_checkpointing",
    "policy.dtensor_cfg.context_parallel_size",
    "policy.megatron_cfg.enabled",
    "policy.sequence_packing.enabled",
    "policy.dynamic_batching.enabled",
    "policy.logprob_batch_size",
    "policy.train_micro_batch_size",
    "policy.train_global_batch_size",
    "policy.max_total_sequence_length",
    "policy.make_sequence_length_divisible_by",
    "policy.precision",
    "policy.optimizer.kwargs.lr",
    "policy.generation.backend",
    "policy.generation.max_new_tokens",
    "policy.generation.colocated.enabled",
    "policy.generation.vllm_cfg.tensor_parallel_size",
    "policy.generation.vllm_cfg.max_model_len",
    "policy.generation.vllm_cfg.gpu_memory_utilization",
    "data.max_input_seq_length",
    "cluster.gpus_per_node",
    "cluster.num_nodes",
    "checkpointing.model_save_format",
    "grpo.num_prompts_per_step",
    "grpo.num_generations_per_prompt",
    "grpo.max_num_steps",
]
# Stated, with the reason, in sealion_v4_27b_rl.yaml's header.
DEVIATIONS = {"grpo.num_prompts_per_step", "grpo.num_generations_per_prompt", "grpo.max_num_steps"}


def rendered(stage: str, tmp_path: Path, base: Path) -> OmegaConf:
    from nemo_rl.utils.config import load_config

    out = subprocess.run(
        [
            str(LAUNCHER),
            "-m",
            f"recipes.{stage}",
            "experiment=sealion_v4_27b",
            "cluster=slurm",
            "launch.dryrun=true",
            f"launch.root={tmp_path}",
            "launch.check_paths=false",
            f"{stage}.nemo_rl_base={base}",
            "cluster.account=acct",
            "cluster.partition=batch",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return load_config(str(tmp_path / "sealion_v4_27b" / stage / "launch" / "nemo_rl.yaml"))


@pytest.fixture(scope="module")
def mul_resolver():
    """NeMo-RL's entry scripts register `mul` (the configs use it) and fail if it is there already: removed after."""
    OmegaConf.register_new_resolver("mul", lambda a, b: a * b)
    yield
    OmegaConf.clear_resolver("mul")


def test_27b_rl_layout_is_nemo_rls_gemma3_27b_recipe(tmp_path, nemo_rl_home, mul_resolver):
    from nemo_rl.utils.config import load_config

    ours = rendered("rl", tmp_path, nemo_rl_home / "examples/configs/grpo_math_1B.yaml")
    recipe = load_config(str(nemo_rl_home / RECIPE))
    values = {key: (OmegaConf.select(ours, key), OmegaConf.select(recipe, key)) for key in LAYOUT}
    differing = {key for key, (mine, theirs) in values.items() if mine != theirs}
    assert differing == DEVIATIONS, {key: values[key] for key in differing ^ DEVIATIONS}
    stated = RL_STAGE_YAML.read_text()
    assert all(key in stated for key in DEVIATIONS), "each deviation is named, with its reason, in the YAML"


def test_27b_apo_keeps_sequence_parallelism_off_like_dpo_yaml(tmp_path, nemo_rl_home, mul_resolver):
    from nemo_rl.utils.config import load_config

    base = nemo_rl_home / "examples/configs/dpo.yaml"
    ours, dpo = rendered("apo", tmp_path, base), load_config(str(base))
    assert ours.policy.dtensor_cfg.sequence_parallel is False
    assert ours.policy.dtensor_cfg.sequence_parallel == dpo.policy.dtensor_cfg.sequence_parallel
    assert ours.policy.dtensor_cfg.tensor_parallel_size == 8 and ours.policy.dtensor_cfg.activation_checkpointing
    assert ours.policy.dtensor_cfg.get("_v2", False) is False  # dpo.yaml's v1 worker: DCP checkpoints, no format
    assert ours.checkpointing.get("model_save_format") is None
