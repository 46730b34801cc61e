"""Run NeMo-RL's own GRPO or DPO entry script on the rendered config, with this repo's loss in place of NeMo-RL's.

NeMo-RL's `setup()` builds its loss from one config section: `ClippedPGLossFn(loss_fn)` for GRPO, `DPOLossFn(dpo)`
for DPO. Replacing that name in NeMo-RL's module before its unchanged example script runs keeps this file
independent of the arity of `setup()`, which changes between NeMo-RL releases. The loss object travels to the
Ray workers by pickle; they import `recipes` from the same container image.

Before the script runs, the SEA reward environment (`sea_ifeval`, recipes.posttrain.environments) is registered
with NeMo-RL, so `data.env_name` can name it. Only `examples/run_grpo.py` creates its environment from
`data.env_name`; v0.5's `run_grpo_math.py` always builds NeMo-RL's math environment, so it is not a fallback.

Runs only inside the `rl` container (NeMo-RL is not on PyPI); the config translation is plain Python and tested.
"""

from __future__ import annotations

import os
import runpy
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from recipes.posttrain.preference_loss import PreferenceLossConfig, PreferenceLossFn
from recipes.posttrain.rl_loss import DrGRPOLossConfig, DrGRPOLossFn

NEMO_RL_HOME = Path(os.environ.get("NEMO_RL_HOME", "/opt/nemo-rl"))


def grpo_loss(section: dict[str, Any]) -> DrGRPOLossFn | None:
    """The Dr. GRPO loss for a rendered `loss_fn` section; None when it asks for NeMo-RL's own loss."""
    ours = section.get("sealion")
    if not ours:
        return None
    return DrGRPOLossFn(
        DrGRPOLossConfig.dr_grpo(
            max_generation_length=ours["constant_normalizer"],
            ratio_clip_min=section["ratio_clip_min"],
            ratio_clip_max=section["ratio_clip_max"],
            reference_policy_kl_penalty=section["reference_policy_kl_penalty"],
        )
    )


def preference_loss(section: dict[str, Any]) -> PreferenceLossFn:
    """The APO / DPO loss for a rendered `dpo` section (its reference_policy_kl_penalty is the beta)."""
    return PreferenceLossFn(
        PreferenceLossConfig(
            objective=section["sealion"]["loss"],
            beta=section["reference_policy_kl_penalty"],
            preference_average_log_probs=section.get("preference_average_log_probs", False),
            sft_loss_weight=section.get("sft_loss_weight", 0.0),
        )
    )


# algorithm -> (NeMo-RL module, the loss class name it instantiates, config section, our factory, entry scripts)
ALGORITHMS: dict[str, tuple[str, str, str, Callable, tuple[str, ...]]] = {
    "grpo": ("nemo_rl.algorithms.grpo", "ClippedPGLossFn", "loss_fn", grpo_loss, ("examples/run_grpo.py",)),
    "dpo": ("nemo_rl.algorithms.dpo", "DPOLossFn", "dpo", preference_loss, ("examples/run_dpo.py",)),
}


def run(algorithm: str, config: Path, artifact_dir: Path) -> None:
    import importlib

    try:
        importlib.import_module("nemo_rl")
    except ImportError as err:
        raise RuntimeError(
            "NeMo-RL is not installed here: the rl and apo stages run in the `rl` container "
            "(cluster.containers.rl, built by containers/build.sh)"
        ) from err
    from recipes.posttrain.environments import register_with_nemo_rl

    register_with_nemo_rl()
    module_name, class_name, section_name, factory, scripts = ALGORITHMS[algorithm]
    section = yaml.safe_load(config.read_text())[section_name]
    ours = factory(section)
    if ours is not None:
        module = importlib.import_module(module_name)
        setattr(module, class_name, lambda *_args, **_kwargs: ours)
    script = next((NEMO_RL_HOME / s for s in scripts if (NEMO_RL_HOME / s).is_file()), None)
    if script is None:
        raise FileNotFoundError(f"none of {scripts} under NEMO_RL_HOME={NEMO_RL_HOME}")
    sys.argv = [str(script), "--config", str(config)]
    runpy.run_path(str(script), run_name="__main__")
    export_hf(yaml.safe_load(config.read_text())["checkpointing"]["checkpoint_dir"], artifact_dir)


def export_hf(checkpoint_dir: str, artifact_dir: Path) -> None:
    """The last checkpoint as a Hugging Face model directory (weights and tokenizer): the stage's artifact.

    Each step_N holds the merged config NeMo-RL trained with (`config.yaml`); its policy section says who wrote
    the weights (NeMo-RL v0.5.0, `nemo_rl/models/policy/lm_policy.py` save_checkpoint):
    - the DTensor v2 worker with `model_save_format: safetensors`: Automodel's checkpointer, whose
      `save_consolidated: true` output `policy/weights/model/consolidated/` is already a Hugging Face directory;
    - the Megatron worker: `policy/weights/iter_*`, converted by `examples/converters/convert_megatron_to_hf.py`;
    - otherwise (the v1 DTensor worker): a torch DCP checkpoint in `policy/weights`, `convert_dcp_to_hf.py`.
    The tokenizer is saved apart (`policy/tokenizer`) and copied beside the weights."""
    steps = sorted(Path(checkpoint_dir).glob("step_*"), key=lambda p: int(p.name.split("_")[1]))
    if not steps:
        raise FileNotFoundError(f"no step_* checkpoint under {checkpoint_dir}: training saved nothing")
    last = steps[-1]
    config = yaml.safe_load((last / "config.yaml").read_text())
    policy, weights = config["policy"], last / "policy" / "weights"
    artifact_dir.mkdir(parents=True, exist_ok=True)
    if (policy.get("megatron_cfg") or {}).get("enabled"):
        iterations = sorted(weights.glob("iter_*"))
        if not iterations:
            raise FileNotFoundError(f"no iter_* Megatron checkpoint under {weights}")
        _convert("convert_megatron_to_hf.py", "--megatron-ckpt-path", last, iterations[-1], artifact_dir)
    elif policy["dtensor_cfg"].get("_v2") and config["checkpointing"].get("model_save_format") == "safetensors":
        consolidated = weights / "model" / "consolidated"
        if not (consolidated / "config.json").is_file():
            raise FileNotFoundError(
                f"{consolidated}: no Hugging Face model (config.json); the rl stage renders "
                "checkpointing.save_consolidated: true, keep it"
            )
        shutil.copytree(consolidated, artifact_dir, dirs_exist_ok=True)
    else:
        _convert("convert_dcp_to_hf.py", "--dcp-ckpt-path", last, weights, artifact_dir)
    shutil.copytree(last / "policy" / "tokenizer", artifact_dir, dirs_exist_ok=True)


def _convert(script: str, weights_flag: str, step: Path, weights: Path, artifact_dir: Path) -> None:
    """NeMo-RL's converter refuses an existing output directory (native_checkpoint.convert_dcp_to_hf raises
    FileExistsError), and the artifact directory exists: convert beside it, then move the files in."""
    converted = artifact_dir.with_name(artifact_dir.name + ".converting")
    shutil.rmtree(converted, ignore_errors=True)  # a conversion cut short by a requeue
    subprocess.run(
        [
            sys.executable,
            str(NEMO_RL_HOME / "examples" / "converters" / script),
            "--config",
            str(step / "config.yaml"),
            weights_flag,
            str(weights),
            "--hf-ckpt-path",
            str(converted),
        ],
        check=True,
    )
    shutil.copytree(converted, artifact_dir, dirs_exist_ok=True)
    shutil.rmtree(converted)
