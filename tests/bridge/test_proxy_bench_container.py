"""bench/train_throughput.py's recipe side in Megatron-Bridge 0.3.1 on CPU: the container its worker trains passes
Bridge's own checks on one GPU's world, and its step-timing Callback records steps; and the transformers baseline
builds and steps under this venv's transformers 4.x, the major version the train container carries."""

from __future__ import annotations

import math

import pytest
import torch

from bench import train_throughput as bench


@pytest.mark.parametrize("precision,fp8", [("bf16", None), ("fp8_current", "hybrid"), ("fp8_delayed", "hybrid")])
def test_the_bench_container_passes_bridge_checks_on_one_gpu(precision, fp8, tmp_path, monkeypatch):
    from megatron.bridge.training.config import MockGPTDatasetConfig, runtime_config_update

    cfg = bench.proxy_config(precision, warmup=3, steps=10)
    container = bench.bench_container(cfg, tmp_path)
    monkeypatch.setenv("WORLD_SIZE", "1")
    container.validate()
    assert container.data_parallel_size == 1
    runtime_config_update(container)  # what pretrain runs first: megatron-core's checks with the preset applied
    m = container.model
    assert type(m).__name__ == "Gemma3ModelProvider27B"
    assert (m.num_layers, m.hidden_size, m.vocab_size, m.seq_length, m.fp8) == (4, 5376, 262208, 4096, fp8)
    assert (container.train.train_iters, container.train.global_batch_size, container.train.micro_batch_size) == (
        13,
        8,
        1,
    )
    assert container.train.eval_iters == 0 and container.train.eval_interval == 14
    assert isinstance(container.dataset, MockGPTDatasetConfig)
    assert container.checkpoint.save_interval == 0  # no save on an interval, none after the last step
    assert (container.tokenizer.tokenizer_type, container.tokenizer.vocab_size) == ("NullTokenizer", 262208)


def test_step_timer_records_each_step_between_synchronisations():
    from types import SimpleNamespace

    from megatron.bridge.training.callbacks import CallbackManager

    syncs, ticks = [], iter([10.0, 11.5, 20.0, 21.25])
    timer = bench.step_timer(lambda: syncs.append(1), clock=lambda: next(ticks))
    manager = CallbackManager()
    manager.add(timer)  # Bridge registers only the hooks a Callback overrides
    assert manager.has_callbacks("on_train_step_start") and manager.has_callbacks("on_train_step_end")
    for loss, skipped in ((torch.tensor(11.0), False), (torch.tensor(10.5), True)):
        manager.fire("on_train_step_start", SimpleNamespace())
        manager.fire("on_train_step_end", SimpleNamespace(loss_dict={"lm loss": loss}, skipped_iter=skipped))
    assert timer.samples == [
        {"seconds": 1.5, "skipped": False, "loss": 11.0},
        {"seconds": 1.25, "skipped": True, "loss": 10.5},
    ]
    assert len(syncs) == 4


def test_the_baseline_steps_under_transformers_4(tmp_path):
    import transformers

    tiny = bench.proxy_config(
        "bf16",
        warmup=1,
        steps=5,
        extra=[
            "model.hidden_size=64",
            "model.ffn_hidden_size=128",
            "model.num_attention_heads=4",
            "model.num_query_groups=2",
            "model.kv_channels=16",
            "model.vocab_size=512",
            "model.num_layers=2",
            "model.window_size=16",
            "dataset.sequence_length=64",
        ],
    )
    raw = bench.run_baseline(tiny, warmup=0, steps=1, device="cpu")
    assert raw["transformers"] == transformers.__version__ and raw["attn_implementation"] == "sdpa"
    assert abs(raw["losses"][0] - math.log(512)) < 0.5


@pytest.mark.parametrize("variant", list(bench.VARIANTS))
def test_every_sweep_variant_passes_bridge_checks_at_both_depths(
    variant, tmp_path, monkeypatch, transformer_engine_2_20
):
    """What the sweep trusts to a GPU: each named variant's container, at the proxy's depth and the slope's other
    depth, passes ConfigContainer.validate() and megatron-core's own checks with the variant's settings applied."""
    from megatron.bridge.training.config import runtime_config_update

    monkeypatch.setenv("WORLD_SIZE", "1")
    for layers in (2, 8):
        precision, extra = bench.variant_config(variant, layers)
        container = bench.bench_container(bench.proxy_config(precision, warmup=2, steps=4, extra=extra), tmp_path)
        container.validate()
        runtime_config_update(container)
        assert container.model.num_layers == layers
        for override in bench.VARIANTS[variant].overrides:  # each lever reached the container under its own name
            key, value = override.split("=")
            section, field = key.split(".")
            section = {
                "model": container.model,
                "optimizer": container.optimizer,
                "mixed_precision": container.mixed_precision,
            }[section]
            got = getattr(section, field)
            if field == "cuda_graph_scope":
                assert [s.name for s in got] == value.strip("[]").split(","), override
            else:
                assert str(got).lower() == value, override
