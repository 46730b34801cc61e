"""The rl and apo configs this repo renders, merged onto NeMo-RL v0.5.0's base configs by NeMo-RL's own inheritance
rules, give v0.5.0's entry scripts what they read. NeMo-RL is not installed here (CI has none): the facts below
were read from its source at tag v0.5.0 (commit 6c7089300f) and are written down by hand, each with its path.

Inheritance (`nemo_rl/utils/config.py`, load_config_with_inheritance): the `defaults:` key (one path or a list) is
popped; each parent, relative to the child's directory unless absolute, is loaded the same way and merged in order
with OmegaConf.merge, the child last; `examples/run_grpo.py` / `run_dpo.py` then take
`OmegaConf.to_container(config, resolve=True)`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf

from recipes.core.config import to_object
from recipes.engines import nemo_rl_config
from recipes.posttrain.nemo_rl_entry import grpo_loss, preference_loss
from recipes.stages import compose

# examples/configs/grpo_math_1B.yaml @ v0.5.0: the keys the checks below touch, with their values there.
GRPO_BASE = {
    "grpo": {
        "num_prompts_per_step": 32,
        "num_generations_per_prompt": 16,
        "max_num_steps": 1000000,
        "normalize_rewards": True,
        "use_leave_one_out_baseline": True,
        "val_period": 10,
        "val_at_start": False,
        "max_val_samples": 256,
        "val_batch_size": 256,
        "seed": 42,
    },
    "loss_fn": {
        "reference_policy_kl_penalty": 0.01,
        "ratio_clip_min": 0.2,
        "ratio_clip_max": 0.2,
        "token_level_loss": True,
    },
    "checkpointing": {
        "enabled": True,
        "checkpoint_dir": "results/grpo",
        "metric_name": "val:accuracy",
        "model_save_format": "safetensors",
        "save_consolidated": False,
    },
    "policy": {
        "model_name": "Qwen/Qwen2.5-1.5B",
        "max_total_sequence_length": 512,
        "dtensor_cfg": {"_v2": True, "enabled": True, "tensor_parallel_size": 1, "context_parallel_size": 1},
        "megatron_cfg": {"enabled": False, "context_parallel_size": 1},
    },
    "data": {
        "max_input_seq_length": "${policy.max_total_sequence_length}",
        "prompt_file": "examples/prompts/cot.txt",
        "system_prompt_file": None,
        "shuffle": True,
        "num_workers": 1,
        "processor": "math_hf_data_processor",
        "env_name": "math",
        "dataset_name": "OpenMathInstruct-2",
    },
    "env": {"math": {"num_workers": 8, "math_verify_impl": "hf_math_verify"}},
}
# examples/configs/dpo.yaml @ v0.5.0 (no dtensor_cfg._v2: the v1 DTensor worker; no model_save_format).
DPO_BASE = {
    "dpo": {
        "max_num_steps": 150,
        "val_period": 25,
        "val_batches": 8,
        "val_global_batch_size": 8,
        "val_at_start": True,
        "seed": 42,
        "reference_policy_kl_penalty": 0.05,
        "preference_average_log_probs": False,
        "preference_loss_weight": 1,
        "sft_loss_weight": 0,
    },
    "checkpointing": {"enabled": True, "checkpoint_dir": "results/dpo", "metric_name": "val:validation-default_loss"},
    "policy": {
        "model_name": "meta-llama/Llama-3.2-1B-Instruct",
        "max_total_sequence_length": 1024,
        "dtensor_cfg": {"enabled": True, "tensor_parallel_size": 1, "context_parallel_size": 1},
    },
    "data": {
        "max_input_seq_length": "${policy.max_total_sequence_length}",
        "shuffle": True,
        "num_workers": 1,
        "dataset_name": "HelpSteer3",
    },
}
# nemo_rl/data/datasets/response_datasets/__init__.py @ v0.5.0, load_response_dataset: `ResponseDataset` needs
# train_data_path and passes these optional keys on (a key not here is ignored).
RESPONSE_DATASET_KEYS = {"val_data_path", "input_key", "output_key", "train_split", "val_split"}
# nemo_rl/data/datasets/preference_datasets/__init__.py @ v0.5.0, load_preference_dataset: the same for
# `BinaryPreferenceDataset`; the nested `data.train.{dataset_name,data_path}` layout is v0.6.0's.
BINARY_PREFERENCE_KEYS = {"val_data_path", "prompt_key", "chosen_key", "rejected_key", "train_split", "val_split"}
# Loss metrics v0.5.0 reads by name: the DTensor v2 worker `num_valid_samples` from every micro-batch
# (dtensor_policy_worker_v2.py ~l.864), GRPO `token_mult_prob_error` and `gen_kl_error` after each step (grpo.py
# ~l.1569, ~l.1611; a list like this one missed the latter: tests/nemorl runs the loops themselves), DPO's
# validation every key of DPOValMetrics but the two counts the worker adds (dpo.py ~l.91-100 and ~l.405-413).
GRPO_METRICS_READ = {"num_valid_samples", "token_mult_prob_error", "gen_kl_error"}
DPO_METRICS_READ = {
    "loss",
    "sft_loss",
    "preference_loss",
    "accuracy",
    "rewards_chosen_mean",
    "rewards_rejected_mean",
    "num_valid_samples",
}
# examples/prompts/cot.txt exists in the v0.5.0 checkout; TaskDataSpec opens prompt_file relative to the cwd.
COT_PROMPT = "examples/prompts/cot.txt"


def load_like_nemo_rl(path: Path) -> DictConfig:
    config = OmegaConf.load(path)
    if "defaults" in config:
        parents = config.pop("defaults")
        parents = [str(p) for p in parents] if isinstance(parents, ListConfig) else [str(parents)]
        merged = OmegaConf.create({})
        for parent in parents:
            merged = OmegaConf.merge(
                merged, load_like_nemo_rl(Path(parent) if parent.startswith("/") else path.parent / parent)
            )
        config = OmegaConf.merge(merged, config)
    return config


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A stand-in NeMo-RL checkout holding the base-config facts above where the real one keeps its configs."""
    root = tmp_path_factory.mktemp("nemo-rl")
    (root / "examples" / "configs").mkdir(parents=True)
    (root / "examples" / "configs" / "grpo_math_1B.yaml").write_text(yaml.safe_dump(GRPO_BASE))
    (root / "examples" / "configs" / "dpo.yaml").write_text(yaml.safe_dump(DPO_BASE))
    return root


def merged(checkout: Path, tmp_path: Path, stage: str, overrides: list[str]) -> dict:
    base = checkout / "examples" / "configs" / ("grpo_math_1B.yaml" if stage == "rl" else "dpo.yaml")
    cfg = to_object(compose(stage, ["experiment=sealion_v4_27b", f"{stage}.nemo_rl_base={base}", *overrides]))
    run_dir = tmp_path / stage
    render = nemo_rl_config.render_grpo if stage == "rl" else nemo_rl_config.render_apo
    rendered = nemo_rl_config.write(render(cfg, "google/gemma-3-27b-it", run_dir, 8), run_dir)
    return OmegaConf.to_container(load_like_nemo_rl(rendered), resolve=True)


def validation_on(section: dict) -> bool:
    # grpo.py @ v0.5.0 setup (~l.277): `if grpo_config["val_period"] > 0 or grpo_config["val_at_start"]:` then
    # asserts "Validation dataset is required if validation is enabled"; dpo.py @ v0.5.0 validate_one_dataset
    # (~l.374) asserts val_period == 0 when there is no validation data.
    return section["val_period"] > 0 or section["val_at_start"]


MATH_ONLY = "rl.datasets=[{name:dm,path:/data/dm.jsonl,env:math}]"


@pytest.mark.parametrize(
    "overrides,env",
    [([], "sea_ifeval"), ([MATH_ONLY], "math"), (["rl.val_prompts=0"], "sea_ifeval")],
    ids=["if+math", "math", "no-val"],
)
def test_grpo_run_reads_what_it_needs(checkout, tmp_path, overrides, env):
    config = merged(checkout, tmp_path, "rl", overrides)
    data, grpo = config["data"], config["grpo"]
    # run_grpo.py setup_data -> load_response_dataset(data): our JSONL, not the base's OpenMathInstruct-2 download
    assert data["dataset_name"] == "ResponseDataset"
    assert data["train_data_path"] == str(tmp_path / "rl" / "data" / "train.jsonl")
    assert {key for key in data if key.endswith(("_path", "_key"))} - {"train_data_path"} <= RESPONSE_DATASET_KEYS
    assert data["max_input_seq_length"] == config["policy"]["max_total_sequence_length"] == 16384
    # create_env(data.env_name, env): the environment is configured
    assert data["env_name"] == env and env in config["env"]
    # TaskDataSpec(prompt_file=data.prompt_file): none, or one that resolves outside NeMo-RL's checkout
    if env == "math":
        assert data["prompt_file"] == str(checkout / COT_PROMPT)
    else:
        assert data["prompt_file"] is None
    if validation_on(grpo):
        assert data["val_data_path"] == str(tmp_path / "rl" / "data" / "val.jsonl")
        assert grpo["max_val_samples"] == grpo["val_batch_size"] == 256
        assert config["checkpointing"]["metric_name"] == "val:accuracy"
    else:
        assert "val_data_path" not in data and config["checkpointing"]["metric_name"] is None
    assert validation_on(grpo) == ("rl.val_prompts=0" not in overrides)
    # Dr. GRPO over the base's stock GRPO
    assert grpo["normalize_rewards"] is False and grpo["use_leave_one_out_baseline"] is False
    assert config["loss_fn"]["reference_policy_kl_penalty"] == 0.0
    # lm_policy.py save_checkpoint: the v1 worker of NeMo-RL's Gemma 3 27B recipe writes torch DCP and refuses a
    # model_save_format (grpo_math_1B.yaml sets safetensors for its v2 worker)
    policy = config["policy"]
    assert policy["dtensor_cfg"]["_v2"] is False and config["checkpointing"]["model_save_format"] is None
    assert policy["dtensor_cfg"]["tensor_parallel_size"] == 8 and policy["dtensor_cfg"]["context_parallel_size"] == 1


@pytest.mark.parametrize("overrides", [[], ["apo.val_pairs=0"]], ids=["val", "no-val"])
def test_dpo_run_reads_the_clair_pairs(checkout, tmp_path, overrides):
    config = merged(checkout, tmp_path, "apo", overrides)
    data, dpo = config["data"], config["dpo"]
    # run_dpo.py setup_data -> load_preference_dataset(data): the flat v0.5.0 keys, not HelpSteer3
    assert data["dataset_name"] == "BinaryPreferenceDataset" and "train" not in data
    assert data["train_data_path"] == str(tmp_path / "apo" / "data" / "train.jsonl")
    assert {key for key in data if key.endswith(("_path", "_key"))} - {"train_data_path"} <= BINARY_PREFERENCE_KEYS
    # data_prep.clair writes {"prompt": [messages], "chosen", "rejected"}
    assert (data["prompt_key"], data["chosen_key"], data["rejected_key"]) == ("prompt", "chosen", "rejected")
    if overrides:
        assert not validation_on(dpo) and "val_data_path" not in data
        assert config["checkpointing"]["metric_name"] is None
    else:
        # run_dpo.py names a val_data_path set "default": the base's metric_name ranks checkpoints by it
        assert validation_on(dpo) and data["val_data_path"] == str(tmp_path / "apo" / "data" / "val.jsonl")
        assert config["checkpointing"]["metric_name"] == "val:validation-default_loss" and dpo["val_batches"] == 0
    assert dpo["reference_policy_kl_penalty"] == 0.1 and dpo["sealion"] == {"loss": "apo_zero"}
    # lm_policy.py save_checkpoint: the v1 worker (no _v2) refuses a model_save_format
    assert not config["policy"]["dtensor_cfg"].get("_v2") and "model_save_format" not in config["checkpointing"]


def test_our_losses_return_the_metrics_v050_reads(checkout, tmp_path):
    """The losses built from the rendered sections, on one NeMo-RL-shaped micro-batch (4 rows of 5 tokens)."""
    logits, ids = torch.randn(4, 5, 7), torch.randint(0, 7, (4, 5))
    mask, logprobs = torch.tensor([[0, 1, 1, 1, 0]] * 4), -torch.rand(4, 5)
    grpo = grpo_loss(merged(checkout, tmp_path, "rl", [])["loss_fn"])
    _, metrics = grpo(
        logits,
        {
            "input_ids": ids,
            "token_mask": mask,
            "sample_mask": torch.ones(4),
            "advantages": torch.ones(4, 5),
            "prev_logprobs": logprobs,
            "generation_logprobs": logprobs,
        },
        torch.tensor(4.0),
        torch.tensor(12.0),
    )
    assert GRPO_METRICS_READ <= set(metrics)
    apo = preference_loss(merged(checkout, tmp_path, "apo", [])["dpo"])
    _, metrics = apo(
        logits,
        {"input_ids": ids, "token_mask": mask, "sample_mask": torch.ones(4), "reference_policy_logprobs": logprobs},
        torch.tensor(4.0),
        torch.tensor(12.0),
    )
    assert DPO_METRICS_READ <= set(metrics)
