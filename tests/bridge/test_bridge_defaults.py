"""Megatron-Bridge 0.3.1's Gemma 3 provider classes and mixed-precision presets are the defaults: conf/model and
conf/precision hold only what differs from them, or what the launcher (which has no Bridge) must read, and these
tests hold those files to Bridge's own objects.

Model: every field a conf/model YAML (on the schema's defaults) shares with its provider, except how the job runs
the model (parallelism, recompute, kernels), equals the provider class's; the 270M, for which 0.3.1 has no class, is
held to Bridge's own conversion of the real 270M Hugging Face config (the offline fixture). The provider that
model_provider() builds then equals that reference on every provider field but ours. Precision: each YAML names a
Bridge preset and sets only fields that differ from it; the built config is the preset with exactly those replaced.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from functools import cache
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from recipes.core.config import to_object
from recipes.core.schema import MixedPrecisionConfig, ModelConfig
from recipes.gemma3_fixture import fixture_dir
from recipes.stages import compose

REPO = Path(__file__).resolve().parents[2]
MODEL_YAMLS = sorted((REPO / "conf" / "model").glob("*.yaml"))
PRECISION_YAMLS = sorted((REPO / "conf" / "precision").glob("*.yaml"))

# Provider fields that say how this job runs the model, not what the model is: ours to choose per size and machine.
RUNTIME = {
    "tensor_model_parallel_size",
    "pipeline_model_parallel_size",
    "virtual_pipeline_model_parallel_size",
    "num_layers_in_first_pipeline_stage",
    "num_layers_in_last_pipeline_stage",
    "context_parallel_size",
    "cp_comm_type",
    "sequence_parallel",
    "recompute_granularity",
    "recompute_modules",
    "recompute_method",
    "recompute_num_layers",
    "attention_backend",
    "cross_entropy_loss_fusion",
    "cross_entropy_fusion_impl",
    "gradient_accumulation_fusion",
    "apply_rope_fusion",
    "cuda_graph_impl",
    "cuda_graph_scope",
}
# Of RUNTIME, the kernel levers whose schema defaults are the provider's until a GPU sweep says otherwise.
KERNEL_LEVERS = (
    "cross_entropy_loss_fusion",
    "cross_entropy_fusion_impl",
    "gradient_accumulation_fusion",
    "apply_rope_fusion",
    "cuda_graph_impl",
)
# Set on the built provider for this job, on purpose: the training length (model.seq_length is the context), the
# text-only model for every size, and where a provider was converted from (the 270M reference only).
SET_PER_JOB = {"seq_length", "is_vision_language", "hf_model_id"}
# The Gemma 3 architecture the YAMLs must carry and compare (a renamed field must not drop out of the comparison).
ARCHITECTURE = {
    "num_layers",
    "hidden_size",
    "ffn_hidden_size",
    "num_attention_heads",
    "num_query_groups",
    "kv_channels",
    "vocab_size",
    "seq_length",
    "window_size",
    "interleaved_attn_pattern",
    "rotary_base",
    "rope_scaling_factor",
    "share_embeddings_and_output_weights",
}
# 0.3.1 has no provider class for these sizes: the reference is Bridge's conversion of the real Hugging Face config.
HF_CONFIG_REFERENCES = {"gemma3_270m": fixture_dir}  # the offline Gemma 3 270M


def _same(ours, theirs) -> bool:
    """Equal as configuration values: a YAML list is Bridge's tuple, a YAML float its int, a float32-stored
    epsilon its decimal."""
    if isinstance(ours, enum.Enum) or isinstance(theirs, enum.Enum):
        return ours == theirs
    if isinstance(ours, list | tuple) and isinstance(theirs, list | tuple):
        return len(ours) == len(theirs) and all(_same(a, b) for a, b in zip(ours, theirs, strict=True))
    if isinstance(ours, int | float) and isinstance(theirs, int | float) and not isinstance(ours, bool):
        return not isinstance(theirs, bool) and math.isclose(ours, theirs, rel_tol=1e-6)
    try:
        return bool(ours == theirs)
    except (RuntimeError, ValueError):  # objects without a truth value for ==
        return ours is theirs


def _load(schema, path: Path):
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.load(path)))


@cache
def _reference(name: str, provider: str):
    """Bridge's own provider for a conf/model size."""
    from megatron.bridge import AutoBridge
    from megatron.bridge.models import gemma

    if provider == "Gemma3ModelProvider":  # the base class has no size of its own
        assert name in HF_CONFIG_REFERENCES, (
            f"conf/model/{name}.yaml names the base Gemma3ModelProvider, and this test has no Hugging Face config to "
            "hold its architecture to: name a sized provider, or add its config to HF_CONFIG_REFERENCES"
        )
        return AutoBridge.from_hf_pretrained(str(HF_CONFIG_REFERENCES[name]())).to_megatron_provider(load_weights=False)
    assert hasattr(gemma, provider), f"conf/model/{name}.yaml: model.provider={provider} is not in megatron.bridge"
    return getattr(gemma, provider)()


def _provider_fields(provider) -> set[str]:
    return {f.name for f in dataclasses.fields(provider)}


@pytest.mark.parametrize("path", MODEL_YAMLS, ids=lambda p: p.stem)
def test_model_yaml_architecture_is_the_bridge_providers(path: Path):
    model = _load(ModelConfig, path)
    reference = _reference(model.name, model.provider)
    shared = {f.name for f in dataclasses.fields(ModelConfig)} & _provider_fields(reference)
    assert ARCHITECTURE <= shared, f"not compared: {sorted(ARCHITECTURE - shared)}"
    compared = shared - RUNTIME
    differ = {n: (getattr(model, n), getattr(reference, n)) for n in sorted(compared)}
    differ = {n: pair for n, pair in differ.items() if not _same(*pair)}
    assert not differ, f"{path.name} differs from {type(reference).__name__} (ours, Bridge's): {differ}"


def test_kernel_lever_defaults_are_the_providers():
    from megatron.bridge.models.gemma import Gemma3ModelProvider

    ours, theirs = ModelConfig(), Gemma3ModelProvider()
    assert {n: getattr(ours, n) for n in KERNEL_LEVERS} == {n: getattr(theirs, n) for n in KERNEL_LEVERS}


@pytest.mark.parametrize("path", MODEL_YAMLS, ids=lambda p: p.stem)
def test_built_provider_is_bridges_but_for_how_the_job_runs_it(path: Path):
    from recipes.engines.bridge_config import model_provider

    cfg = to_object(compose("cpt", [f"model={path.stem}", "dataset.mock=true"]))
    built = model_provider(cfg)
    reference = _reference(cfg.model.name, cfg.model.provider)
    assert type(built) is type(reference)
    compared = _provider_fields(reference) - RUNTIME - SET_PER_JOB
    assert ARCHITECTURE - {"seq_length"} <= compared
    differ = {n: (getattr(built, n), getattr(reference, n)) for n in sorted(compared)}
    differ = {n: pair for n, pair in differ.items() if not _same(*pair)}
    assert not differ, f"model={path.stem}: the built provider differs from Bridge's (ours, Bridge's): {differ}"


def _bridge_value(name: str, value):
    """Ours -> Bridge's value: params_dtype is a torch dtype's name here, the dtype there."""
    import torch

    return getattr(torch, value) if name == "params_dtype" else value


@pytest.mark.parametrize("path", PRECISION_YAMLS, ids=lambda p: p.stem)
def test_precision_yaml_is_the_bridge_preset_plus_what_it_sets(path: Path):
    from megatron.bridge.training.mixed_precision import MIXED_PRECISION_RECIPES, get_mixed_precision_config

    from recipes.engines.bridge_config import mixed_precision

    ours = _load(MixedPrecisionConfig, path)
    assert ours.name in MIXED_PRECISION_RECIPES, f"{path.name}: name={ours.name} is not a Megatron-Bridge preset"
    preset = get_mixed_precision_config(ours.name)
    bridge_fields = {f.name for f in dataclasses.fields(preset)}
    set_here = {
        f.name: _bridge_value(f.name, getattr(ours, f.name))
        for f in dataclasses.fields(MixedPrecisionConfig)
        if f.name not in ("name", "requires_gpu_arch") and getattr(ours, f.name) is not None
    }
    assert set_here.keys() <= bridge_fields, (
        f"{path.name}: not Bridge fields: {sorted(set_here.keys() - bridge_fields)}"
    )
    restated = sorted(n for n, v in set_here.items() if _same(v, getattr(preset, n)))
    assert not restated, f"{path.name} restates {ours.name}'s {restated}: remove them (the preset is the default)"

    built = mixed_precision(ours)
    expected = {n: set_here.get(n, getattr(preset, n)) for n in bridge_fields}
    if "fp8_param_gather" in set_here:  # Bridge keeps fp8_param in step with it (MixedPrecisionConfig.__setattr__)
        expected["fp8_param"] = set_here["fp8_param_gather"]
    differ = {n: (getattr(built, n), v) for n, v in sorted(expected.items()) if getattr(built, n) != v}
    assert not differ, f"precision={path.stem}: built differs from preset + {path.name} (built, expected): {differ}"
