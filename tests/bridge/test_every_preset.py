"""Every model size x precision preset, for cpt and sft, as a ConfigContainer that Megatron-Bridge 0.3.1 checks itself.

Two checks per pair. `validate()` derives data parallelism but never reads `mixed_precision`: the precision preset
reaches the model, optimizer and DDP configs only in `runtime_config_update()`, the first call of `pretrain` (and of
`finetune`, which calls `pretrain`). That call re-runs megatron-core's TransformerConfig and DDP checks with FP8 on,
so it is the one that finds a preset the GPU job would die on at startup. Neither call checks the GPU architecture:
MXFP8's Blackwell-only rule is ours (mixed_precision.requires_gpu_arch, enforced by preflight).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch

from recipes.core.config import to_object
from recipes.core.schema import RootConfig
from recipes.engines.bridge_config import build_config_container
from recipes.stages import compose
from recipes.submit.preflight import requested_gpus

MODELS = ("gemma3_270m", "gemma3_1b", "gemma3_4b", "gemma3_12b", "gemma3_27b")
PRECISIONS = ("bf16", "fp8_current", "fp8_delayed", "mxfp8")
STAGES = ("cpt", "sft")
CARD = ["experiment=sealion_v4_27b", "cluster=slurm"]  # the card's jobs: 16 nodes (cpt), 8 nodes (sft), 8 GPUs each
PAIRS = [(stage, model, precision) for stage in STAGES for model in MODELS for precision in PRECISIONS]

# What each conf/precision preset must leave in container.mixed_precision: (fp8, fp8_recipe, first_last_layers_bf16,
# bf16 layers at start, at end, fp8_param_gather). bf16 keeps Megatron-Bridge's unused default recipe, "tensorwise".
# fp8_delayed has no bf16 layers and mxfp8 gathers FP8 parameters: megatron-core refuses either otherwise at the
# start of every job (both were refused here before the presets were fixed).
EXPECTED_PRECISION = {
    "bf16": (None, "tensorwise", False, 0, 0, False),
    "fp8_current": ("hybrid", "tensorwise", True, 1, 1, False),
    "fp8_delayed": ("hybrid", "delayed", False, 0, 0, False),
    "mxfp8": ("e4m3", "mxfp8", False, 0, 0, True),
}


@pytest.fixture(scope="module")
def composed(tmp_path_factory):
    """compose() is the slow part (~0.7 s): once per (stage, model, precision) for both tests of the pair."""
    packed = tmp_path_factory.mktemp("sft_data")
    np.save(
        packed / "packed.npy",
        np.array([{"input_ids": [2, 5, 6, 2], "loss_mask": [0, 1, 1, 0], "seq_start_id": [0]}], dtype=object),
        allow_pickle=True,
    )
    cpt_model = tmp_path_factory.mktemp("cpt_model")

    @cache
    def cfg(stage: str, model: str, precision: str) -> RootConfig:
        data = ["dataset.mock=true"] if stage == "cpt" else [f"dataset.packed_data={packed}", f"run.input={cpt_model}"]
        return to_object(compose(stage, CARD + [f"model={model}", f"precision={precision}"] + data))

    return cfg


def _world_and_data_parallel(cfg: RootConfig) -> tuple[int, int]:
    """The job's GPU count and the data-parallel size it leaves after TP x PP x CP."""
    m = cfg.model
    model_parallel = m.tensor_model_parallel_size * m.pipeline_model_parallel_size * m.context_parallel_size
    world = requested_gpus(cfg)
    assert world % model_parallel == 0, f"{m.name}: {world} GPUs do not divide into TPxPPxCP={model_parallel}"
    return world, world // model_parallel


@pytest.mark.parametrize("stage,model,precision", PAIRS)
def test_validate_derives_data_parallelism_and_keeps_the_precision_preset(
    stage, model, precision, composed, tmp_path: Path, monkeypatch
):
    cfg = composed(stage, model, precision)
    container = build_config_container(cfg, tmp_path, stage=stage)
    world, data_parallel = _world_and_data_parallel(cfg)
    monkeypatch.setenv("WORLD_SIZE", str(world))
    container.validate()
    assert type(container.model).__name__ == cfg.model.provider
    assert container.model.num_layers == cfg.model.num_layers
    assert container.data_parallel_size == data_parallel

    mp = container.mixed_precision
    assert (mp.bf16, mp.fp16, mp.params_dtype) == (True, False, torch.bfloat16)
    assert (
        mp.fp8,
        mp.fp8_recipe,
        mp.first_last_layers_bf16,
        mp.num_layers_at_start_in_bf16,
        mp.num_layers_at_end_in_bf16,
        mp.fp8_param_gather,
    ) == EXPECTED_PRECISION[precision]  # ours win
    if precision == "fp8_delayed":  # the rest of Megatron-Bridge's preset stays under ours
        assert (mp.fp8_amax_history_len, mp.fp8_amax_compute_algo) == (1024, "max")


@pytest.mark.parametrize("stage,model,precision", PAIRS)
def test_pretrain_startup_applies_the_preset(stage, model, precision, composed, tmp_path: Path, monkeypatch):
    from megatron.bridge.training.config import runtime_config_update

    cfg = composed(stage, model, precision)
    container = build_config_container(cfg, tmp_path, stage=stage)
    world, data_parallel = _world_and_data_parallel(cfg)
    monkeypatch.setenv("WORLD_SIZE", str(world))
    runtime_config_update(container)  # megatron-core's TransformerConfig and DDP checks, with the preset applied
    assert container.data_parallel_size == data_parallel
    fp8, recipe, first_last, start, end, param_gather = EXPECTED_PRECISION[precision]
    m = container.model  # the preset now lives on the provider that builds the model
    assert (m.bf16, m.params_dtype, m.fp8) == (True, torch.bfloat16, fp8)
    assert (m.first_last_layers_bf16, m.num_layers_at_start_in_bf16, m.num_layers_at_end_in_bf16) == (
        first_last,
        start,
        end,
    )
    if fp8 is not None:
        assert (m.fp8_recipe, m.fp8_param) == (recipe, param_gather)
    assert container.optimizer.bf16 and container.ddp.fp8_param_gather is param_gather
