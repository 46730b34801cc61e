"""The composed config, rendered as the NeMo-RL config the rl and apo stages run (`launch/nemo_rl.yaml`).

The rendered file inherits NeMo-RL's own example config (`defaults:`, resolved by NeMo-RL's loader inside its
container) and sets only what this repo decides, so every other key keeps NeMo-RL's default for the pinned release.

Dr. GRPO ("DRGPPO" in the card; Liu et al. 2025) onto NeMo-RL's GRPO:
  advantage R_i - mean(R) per prompt group      grpo.normalize_rewards: false (no division by the group's std),
                                                grpo.use_leave_one_out_baseline: false (the plain group mean)
  no 1/|o_i| per-sequence normaliser            loss_fn.token_level_loss: true (tokens pooled over the batch)
  constant normaliser (max generation length)   not a NeMo-RL option (it divides by the batch's token count):
                                                recipes.posttrain.rl_loss.DrGRPOLossFn replaces ClippedPGLossFn,
                                                configured by loss_fn.sealion (this file) and wired in by
                                                recipes.posttrain.nemo_rl_entry
  KL beta (0 in the paper)                      loss_fn.reference_policy_kl_penalty
  clip epsilon                                  loss_fn.ratio_clip_min / ratio_clip_max
`rl.algorithm=grpo` renders NeMo-RL's stock GRPO (std-normalised rewards, leave-one-out baseline) instead.

Rewards: NeMo-RL v0.5 sends a run's one training file to one environment (`data.env_name`). Math-only runs use
NeMo-RL's `math` with its chain-of-thought prompt, named by absolute path (the job does not run in NeMo-RL's
checkout, so the base config's relative `examples/prompts/cot.txt` would not be found); a run with an `env: ifeval`
dataset uses `sea_ifeval` (recipes.posttrain.environments), which scores each record by its own `output`: an IFEval
spec (JSON) with the SEA-IFEval language rule, else a math answer. Such a run renders no run-wide prompt
(`prompt_file`, which would ask an instruction-following prompt for a boxed answer); the job applies NeMo-RL's math
prompt to the math rows instead (`with_math_prompt`).

Validation: both base configs validate (GRPO every `val_period` steps, DPO also at the start), and v0.5.0's GRPO
setup asserts a validation set exists. The job holds out `rl.val_prompts` prompts / `apo.val_pairs` pairs
(recipes.posttrain.holdout) as `data.val_data_path`; 0 turns validation off.

APO onto NeMo-RL's DPO: dpo.reference_policy_kl_penalty is the beta of the log-ratios; the loss itself
(apo_zero / apo_down / sigmoid) is recipes.posttrain.preference_loss, configured by dpo.sealion. The pairs are
v0.5.0's flat `data.dataset_name: BinaryPreferenceDataset` / `data.train_data_path` (the nested `data.train`
layout is v0.6.0's).

The targeted release is NeMo-RL v0.5.0 (containers/rl.Dockerfile); tests/posttrain/test_nemo_rl_conformance.py
holds the facts of its base configs and entry scripts this file relies on, and tests/nemorl runs the rendered
jobs through v0.5.0's own loops (GPU workers replaced by CPU ones) and holds the 27B layout to its Gemma 3 recipe.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from recipes.core.run_layout import StageDir
from recipes.core.schema import RLConfig, RootConfig

RENDERED_NAME = "nemo_rl.yaml"


RL_ENVIRONMENTS = ("math", "ifeval")  # reward environments wired into NeMo-RL (ifeval: recipes.posttrain.environments)


def unknown_rl_environments(datasets: list[dict]) -> list[int]:
    """Indices of rl.datasets entries whose env is not a reward environment."""
    return [i for i, dataset in enumerate(datasets) if dataset.get("env") not in RL_ENVIRONMENTS]


def _policy(
    cfg: RootConfig,
    backend: str,
    model: str,
    seq_len: int,
    global_batch: int,
    micro_batch: int,
    checkpointing: bool,
) -> dict[str, Any]:
    m, megatron = cfg.model, backend == "megatron"
    policy: dict[str, Any] = {
        "model_name": model,
        "tokenizer": {"name": model},
        "train_global_batch_size": global_batch,
        "train_micro_batch_size": micro_batch,
        "max_total_sequence_length": seq_len,
        "precision": "bfloat16",
        # Sequence parallelism off in the DTensor policy, as in dpo.yaml, grpo_math_1B.yaml and every NeMo-RL
        # Gemma 3 recipe (model.sequence_parallel is Megatron's).
        "dtensor_cfg": {
            "enabled": not megatron,
            "tensor_parallel_size": m.tensor_model_parallel_size,
            "sequence_parallel": False,
            "activation_checkpointing": checkpointing,
            "context_parallel_size": 1,
        },
        "megatron_cfg": {
            "enabled": megatron,
            "tensor_model_parallel_size": m.tensor_model_parallel_size,
            "pipeline_model_parallel_size": m.pipeline_model_parallel_size,
            "sequence_parallel": m.sequence_parallel,
            "activation_checkpointing": checkpointing,
        },
        # Sequence parallelism splits each sequence across the TP ranks.
        "make_sequence_length_divisible_by": m.tensor_model_parallel_size,
    }
    return policy


def _common(cfg: RootConfig, run_dir: Path, gpus_per_node: int) -> dict[str, Any]:
    return {
        "checkpointing": {"enabled": True, "checkpoint_dir": str(StageDir(run_dir).checkpoints)},
        "logger": {
            "log_dir": str(StageDir(run_dir).logs),
            "tensorboard_enabled": True,
            "wandb_enabled": bool(cfg.logger.wandb_project),
            "wandb": {"project": cfg.logger.wandb_project or "", "name": cfg.run.name},
        },
        "cluster": {"gpus_per_node": gpus_per_node, "num_nodes": cfg.stage.nodes},
    }


# recipes.posttrain.environments.ENV_NAME, not imported: rendering runs at launch, without the scorer's torch.
SEA_ENV_NAME = "sea_ifeval"


def mixed(rl: RLConfig) -> bool:
    """Math and instruction-following prompts in one run: one environment (sea_ifeval) and no run-wide prompt."""
    return any(dataset.get("env") == "ifeval" for dataset in rl.datasets)


def math_prompt_file(rl: RLConfig) -> Path:
    """NeMo-RL's chain-of-thought math prompt (answer in \\boxed{}), in the checkout of the base config (which
    sits somewhere under <checkout>/examples/)."""
    base = Path(rl.nemo_rl_base)
    checkout = next((parent.parent for parent in base.parents if parent.name == "examples"), base.parent.parent)
    return checkout / "examples" / "prompts" / "cot.txt"


def with_math_prompt(source: Path, prompt_file: Path, target: Path) -> Path:
    """`source`'s rows with the math prompt applied to their `input`, written to `target`. A mixed run renders
    `prompt_file: None` (the IFEval prompts take none), so the job applies it to the math rows itself, as NeMo-RL's
    math_hf_data_processor would: `template.format(input)`."""
    template = prompt_file.read_text()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, encoding="utf-8") as rows, target.open("w", encoding="utf-8") as out:
        for line in rows:
            if line.strip():
                row = json.loads(line)
                row["input"] = template.format(row["input"])
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return target


def _rewards(rl: RLConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `data` keys that pick the environment, and the `env` section that configures it."""
    if mixed(rl):
        return {"env_name": SEA_ENV_NAME, "prompt_file": None}, {SEA_ENV_NAME: {"all_or_nothing": False}}
    return (
        {"env_name": "math", "prompt_file": str(math_prompt_file(rl))},
        {"math": {"num_workers": 8, "math_verify_impl": "hf_math_verify"}},
    )


def _without_validation(config: dict[str, Any], section: str) -> dict[str, Any]:
    """Turn the base config's validation off, and the checkpoint ranking by a validation metric with it."""
    config[section].update({"val_period": 0, "val_at_start": False})
    config["checkpointing"]["metric_name"] = None
    return config


def render_grpo(cfg: RootConfig, model: str, run_dir: Path, gpus_per_node: int) -> dict[str, Any]:
    rl = cfg.rl
    dr = rl.algorithm == "dr_grpo"
    policy = _policy(
        cfg,
        rl.backend,
        model,
        rl.max_total_sequence_length,
        rl.train_global_batch_size,
        rl.train_micro_batch_size,
        rl.activation_checkpointing,
    )
    policy["optimizer"] = {"kwargs": {"lr": rl.lr}}
    policy["megatron_cfg"]["optimizer"] = {"lr": rl.lr, "min_lr": rl.lr}
    policy["dtensor_cfg"]["_v2"] = rl.dtensor_v2
    policy["sequence_packing"] = {"enabled": rl.sequence_packing}
    policy["logprob_batch_size"] = rl.logprob_batch_size
    policy["generation"] = {
        "backend": "vllm",
        "max_new_tokens": rl.max_total_sequence_length,
        "temperature": rl.temperature,
        "vllm_cfg": {
            "tensor_parallel_size": rl.generation_tensor_parallel_size,
            "gpu_memory_utilization": rl.gpu_memory_utilization,
            "max_model_len": rl.max_total_sequence_length,
            # Gemma 3's weights are refitted from the trainer: vLLM loads the real ones, not dummies.
            "load_format": "auto",
        },
        "colocated": {"enabled": rl.colocated},
    }
    loss_fn: dict[str, Any] = {
        "reference_policy_kl_penalty": rl.kl_beta,
        "ratio_clip_min": rl.ratio_clip_low,
        "ratio_clip_max": rl.ratio_clip_high,
        "token_level_loss": True,
    }
    if dr:
        loss_fn["sealion"] = {"loss": "dr_grpo", "constant_normalizer": rl.max_total_sequence_length}
    data_routing, env = _rewards(rl)
    config = {
        "defaults": rl.nemo_rl_base,
        "grpo": {
            "num_prompts_per_step": rl.prompts_per_step,
            "num_generations_per_prompt": rl.generations_per_prompt,
            "max_num_steps": rl.max_steps,
            "normalize_rewards": not dr,
            "use_leave_one_out_baseline": not dr,
            "seed": cfg.run.seed,
        },
        "loss_fn": loss_fn,
        "policy": policy,
        # The rl stage concatenates rl.datasets (NeMo-RL's response format, data_prep.rl_data) and splits the
        # held-out prompts off (recipes.posttrain.holdout) into these files.
        "data": {
            "dataset_name": "ResponseDataset",
            "max_input_seq_length": rl.max_total_sequence_length,
            "train_data_path": str(train_data_path(run_dir)),
            "input_key": "input",
            "output_key": "output",
            **data_routing,
        },
        "env": env,
        **_common(cfg, run_dir, gpus_per_node),
    }
    if rl.backend == "dtensor" and rl.dtensor_v2:
        # The DTensor v2 worker saves safetensors under policy/weights/model/; `consolidated/` beside the
        # shards is a Hugging Face model directory, the stage's artifact (recipes.posttrain.nemo_rl_entry.export_hf).
        config["checkpointing"].update({"model_save_format": "safetensors", "save_consolidated": True})
    elif rl.backend == "dtensor":
        # The v1 worker writes torch DCP and refuses any model_save_format (grpo_math_1B.yaml sets safetensors).
        config["checkpointing"]["model_save_format"] = None
    if not rl.val_prompts:
        return _without_validation(config, "grpo")
    config["data"]["val_data_path"] = str(val_data_path(run_dir))
    config["grpo"].update(
        {"max_val_samples": rl.val_prompts, "val_batch_size": rl.val_prompts, "val_period": rl.val_period}
    )
    return config


def render_apo(cfg: RootConfig, model: str, run_dir: Path, gpus_per_node: int) -> dict[str, Any]:
    apo = cfg.apo
    policy = _policy(
        cfg,
        apo.backend,
        model,
        apo.max_total_sequence_length,
        apo.global_batch_size,
        apo.micro_batch_size,
        apo.activation_checkpointing,
    )
    policy["optimizer"] = {"kwargs": {"lr": apo.lr}}
    policy["megatron_cfg"]["optimizer"] = {"lr": apo.lr, "min_lr": apo.lr}
    config = {
        "defaults": apo.nemo_rl_base,
        "dpo": {
            "max_num_steps": apo.max_steps,
            "seed": cfg.run.seed,
            "reference_policy_kl_penalty": apo.beta,
            "preference_average_log_probs": False,
            "preference_loss_weight": 1,
            "sft_loss_weight": 0,
            "sealion": {"loss": apo.loss},
        },
        "policy": policy,
        # The apo stage splits the held-out pairs off apo.pairs into these files (recipes.posttrain.holdout).
        "data": {
            "dataset_name": "BinaryPreferenceDataset",
            "train_data_path": str(train_data_path(run_dir)),
            "prompt_key": "prompt",
            "chosen_key": "chosen",
            "rejected_key": "rejected",
        },
        **_common(cfg, run_dir, gpus_per_node),
    }
    if not apo.val_pairs:
        return _without_validation(config, "dpo")
    config["data"]["val_data_path"] = str(val_data_path(run_dir))
    config["dpo"]["val_batches"] = 0  # 0: every held-out pair, not the base's first val_batches batches
    return config


def stage_input(cfg: RootConfig, run_dir: Path, path: str) -> str:
    """`path` as the job will read it; called at launch. A job in a container (Slurm with pyxis runs it with
    `--no-container-mount-home`) sees only launch.root and cluster.container_mounts, so a local file or model
    directory elsewhere (the smoke model under HOME, the bundled sample data in the checkout) is copied into the
    run's inputs/ now; `job_input` finds it there. Hub ids and visible paths pass unchanged."""
    source = Path(path)
    if not source.exists() or not cfg.cluster.containers.get(cfg.stage.container) or _mounted(cfg, source):
        return path
    target = staged_path(run_dir, path)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, partial)
        partial.rename(target)  # a copy cut short is never taken for the input
    return str(target)


def job_input(run_dir: Path, path: str) -> str:
    """Inside the job: the copy `stage_input` made at launch, else the path itself."""
    staged = staged_path(run_dir, path)
    return str(staged) if staged.exists() else path


def staged_path(run_dir: Path, path: str) -> Path:
    return run_dir / "inputs" / Path(path).name


def _mounted(cfg: RootConfig, path: Path) -> bool:
    """Under launch.root or a `host:container` mount of the same path (launch mounts launch.root at itself)."""
    mounts = [(mount.split(":") + [""])[:2] for mount in cfg.cluster.container_mounts]  # host[:container[:opts]]
    roots = [cfg.launch.root] + [host for host, container in mounts if host == container]
    resolved = path.resolve()
    return any(resolved.is_relative_to(Path(root).resolve()) for root in roots)


def train_data_path(run_dir: Path) -> Path:
    return run_dir / "data" / "train.jsonl"


def val_data_path(run_dir: Path) -> Path:
    return run_dir / "data" / "val.jsonl"


def write(config: dict[str, Any], run_dir: Path) -> Path:
    target = StageDir(run_dir).launch / RENDERED_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return target
