"""recipes.engines.bridge_config builds real Megatron-Bridge 0.3.1 ConfigContainers from composed configs (CPU only)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from recipes.core.config import to_object
from recipes.engines.bridge_config import BridgeConfigError, build_config_container
from recipes.stages import compose

CARD_27B = ["experiment=sealion_v4_27b", "cluster=slurm"]


def _cpt(tmp_path, overrides=()):
    cfg = to_object(compose("cpt", CARD_27B + list(overrides)))
    return cfg, build_config_container(cfg, tmp_path / "run", stage="cpt")


def test_27b_cpt_container_has_the_card_numbers(tmp_path, monkeypatch):
    _, container = _cpt(tmp_path, ["dataset.mock=true"])
    m = container.model
    assert type(m).__name__ == "Gemma3ModelProvider27B"
    assert (m.num_layers, m.hidden_size, m.ffn_hidden_size) == (62, 5376, 21504)
    assert (m.num_attention_heads, m.num_query_groups, m.kv_channels, m.vocab_size) == (32, 16, 128, 262208)
    assert (m.tensor_model_parallel_size, m.pipeline_model_parallel_size, m.sequence_parallel) == (8, 2, True)
    assert (m.recompute_granularity, m.recompute_modules) == ("selective", ["core_attn"])
    # the text-only language model: causal/sliding-window masks in the kernel, none from the data loader
    assert m.is_vision_language is False and container.dataset.create_attention_mask is False
    assert m.seq_length == container.dataset.seq_length == 8192
    assert (container.train.global_batch_size, container.train.micro_batch_size) == (1024, 1)
    assert container.train.train_iters == 59605
    assert (container.optimizer.optimizer, container.optimizer.lr, container.optimizer.weight_decay) == (
        "adam",
        4e-8,
        0.1,
    )
    assert container.optimizer.use_distributed_optimizer and container.ddp.use_distributed_optimizer
    assert (container.scheduler.lr_decay_style, container.scheduler.lr_warmup_iters) == ("cosine", 500)
    assert container.scheduler.lr_decay_iters == 59605  # defaults to train_iters
    mp = container.mixed_precision
    assert (mp.bf16, mp.params_dtype, mp.fp8) == (True, torch.bfloat16, None)
    ckpt = container.checkpoint
    assert ckpt.save == ckpt.load == str(tmp_path / "run" / "artifact" / "megatron")
    assert (ckpt.save_interval, ckpt.async_save, ckpt.ckpt_format) == (500, True, "torch_dist")
    assert container.logger.tensorboard_dir == str(tmp_path / "run" / "tensorboard")

    monkeypatch.setenv("WORLD_SIZE", "128")
    container.validate()
    assert container.data_parallel_size == 8  # 128 GPUs / (TP8 x PP2)


def test_validate_refuses_a_world_size_not_divisible_by_tp_times_pp(tmp_path, monkeypatch):
    _, container = _cpt(tmp_path, ["dataset.mock=true"])
    monkeypatch.setenv("WORLD_SIZE", "100")
    with pytest.raises(AssertionError, match=r"world size \(100\) is not divisible"):
        container.validate()


def test_fp8_current_scaling_keeps_first_and_last_layer_bf16(tmp_path):
    _, container = _cpt(tmp_path, ["dataset.mock=true", "precision=fp8_current"])
    mp = container.mixed_precision
    assert (mp.fp8, mp.fp8_recipe) == ("hybrid", "tensorwise")
    assert mp.first_last_layers_bf16 and (mp.num_layers_at_start_in_bf16, mp.num_layers_at_end_in_bf16) == (1, 1)
    assert mp.fp8_param_gather is False  # ours (conf/precision/fp8_current.yaml) wins over the preset's True


def _blend_json(directory, prefixes, weights):
    """blend.json in data_prep.blend's format: {"blend": [[prefix, ...], [weight, ...]], ...}."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = [{"prefix": p, "key": p.rsplit("/", 1)[-1], "weight": w} for p, w in zip(prefixes, weights)]
    (directory / "blend.json").write_text(
        json.dumps(
            {
                "blend": [prefixes, weights],
                "budget_tokens": 1000,
                "datamix": "smoke",
                "entries": entries,
                "dropped_rows": [],
                "warnings": [],
            }
        )
    )
    return directory / "blend.json"


def test_blend_comes_from_the_upstream_data_prep_artifact(tmp_path, monkeypatch):
    artifact = tmp_path / "data_prep" / "artifact"
    prefixes = [str(artifact / "id_web_text_document"), str(artifact / "vi_web_text_document")]
    _blend_json(artifact, prefixes, [0.3, 0.7])
    _, container = _cpt(tmp_path, [f"run.input={artifact}"])
    assert container.dataset.blend == (prefixes, [0.3, 0.7])
    assert container.dataset.seq_length == 8192
    monkeypatch.setenv("WORLD_SIZE", "128")
    container.validate()


def test_dataset_blend_path_wins_and_a_missing_one_names_the_field(tmp_path):
    path = _blend_json(tmp_path / "mine", ["/data/a", "/data/b"], [0.5, 0.5])
    _, container = _cpt(tmp_path, [f"dataset.blend={path}", "run.input=/nowhere"])
    assert container.dataset.blend == (["/data/a", "/data/b"], [0.5, 0.5])
    with pytest.raises(BridgeConfigError, match="dataset.blend"):
        _cpt(tmp_path, [f"dataset.blend={tmp_path / 'absent.json'}"])


def test_unknown_precision_preset_names_the_field(tmp_path):
    with pytest.raises(BridgeConfigError, match=r"mixed_precision\.name: 'bf16_turbo'.*bf16_mixed"):
        _cpt(tmp_path, ["dataset.mock=true", "mixed_precision.name=bf16_turbo"])


def test_270m_uses_the_base_provider_with_the_270m_shape(tmp_path, monkeypatch):
    # Not the smoke experiment: its model and data point at the offline fixture, which only the main venv builds.
    cfg = to_object(
        compose("cpt", CARD_27B + ["model=gemma3_270m", "dataset.mock=true", "dataset.sequence_length=1024"])
    )
    container = build_config_container(cfg, tmp_path, stage="cpt")
    m = container.model
    assert type(m).__name__ == "Gemma3ModelProvider"
    assert (m.num_layers, m.hidden_size, m.ffn_hidden_size, m.kv_channels, m.window_size) == (18, 640, 2048, 256, 512)
    monkeypatch.setenv("WORLD_SIZE", "1")
    container.validate()


def test_sft_finetunes_packed_data_from_the_cpt_model(tmp_path, monkeypatch):
    packed = tmp_path / "sft_data"
    packed.mkdir()
    # data_prep.sft_format's packed.npy: one packed sequence holding two conversations.
    np.save(
        packed / "packed.npy",
        np.array(
            [{"input_ids": [2, 5, 6, 7, 2, 8, 9], "loss_mask": [0, 1, 1, 0, 0, 1, 0], "seq_start_id": [0, 4]}],
            dtype=object,
        ),
        allow_pickle=True,
    )
    cfg = to_object(compose("sft", CARD_27B + [f"dataset.packed_data={packed}", f"run.input={tmp_path / 'cpt_model'}"]))
    container = build_config_container(cfg, tmp_path / "run", stage="sft")
    specs = container.dataset.packed_sequence_specs
    assert str(specs.packed_train_data_path) == str(packed / "packed.npy")
    assert specs.packed_sequence_size == container.dataset.seq_length == 8192
    assert container.checkpoint.pretrained_checkpoint == str(tmp_path / "cpt_model" / "megatron")
    assert container.optimizer.lr == 1e-5
    monkeypatch.setenv("WORLD_SIZE", "128")
    container.validate()


@pytest.mark.parametrize(
    "module,function,leading",
    [
        ("megatron.bridge.training.pretrain", "pretrain", ["config", "forward_step_func"]),
        ("megatron.bridge.training.finetune", "finetune", ["config", "forward_step_func"]),
        ("megatron.bridge.training.gpt_step", "forward_step", ["state", "data_iterator", "model"]),
    ],
)
def test_the_engine_calls_the_stages_make_exist_in_megatron_bridge(module, function, leading):
    """cpt/sft `execute` import these by path; a moved entry point must fail here, not on the cluster. Read from
    source: importing `pretrain` pulls in GPU-side packages (tensorboard, nvidia-resiliency-ext) this venv lacks."""
    import ast
    import importlib.util
    from pathlib import Path

    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
    defs = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert function in defs, f"{module} has no top-level {function}"
    assert [a.arg for a in defs[function].args.args][: len(leading)] == leading


def test_resiliency_extension_is_off_by_default_and_maps_when_on(tmp_path):
    _, plain = _cpt(tmp_path, ["dataset.mock=true"])
    assert plain.ft is None and plain.nvrx_straggler is None
    _, container = _cpt(
        tmp_path,
        [
            "dataset.mock=true",
            "ft.enable_ft_package=true",
            "ft.calc_ft_timeouts=true",
            "nvrx_straggler.enabled=true",
            "nvrx_straggler.report_time_interval=120",
        ],
    )
    assert container.ft.enable_ft_package and container.ft.calc_ft_timeouts
    assert container.nvrx_straggler.enabled and container.nvrx_straggler.report_time_interval == 120
