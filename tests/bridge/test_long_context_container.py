"""The long-context CPT variants become Megatron-Bridge 0.3.1 ConfigContainers that validate at their world size."""

from __future__ import annotations

import pytest

from recipes.core.config import to_object
from recipes.engines.bridge_config import build_config_container
from recipes.stages import compose

CARD_27B = ["experiment=sealion_v4_27b", "cluster=slurm", "dataset.mock=true"]


@pytest.mark.parametrize(
    "context,seq,gbs,cp,dp",
    [
        ("long_32k", 32768, 256, 2, 4),
        ("long_128k", 131072, 64, 8, 1),
    ],
)
def test_long_context_container_carries_context_parallelism_and_validates(
    tmp_path, monkeypatch, context, seq, gbs, cp, dp
):
    cfg = to_object(compose("cpt", CARD_27B + [f"context={context}"]))
    container = build_config_container(cfg, tmp_path / "run", stage="cpt")
    m = container.model
    assert (m.tensor_model_parallel_size, m.pipeline_model_parallel_size, m.context_parallel_size) == (8, 2, cp)
    assert m.sequence_parallel and (m.recompute_granularity, m.recompute_modules) == ("selective", ["core_attn"])
    assert m.seq_length == container.dataset.seq_length == seq
    assert m.rope_scaling_factor == 8.0  # the 27B's 128K RoPE scaling of the global layers, unchanged
    assert (container.train.global_batch_size, container.train.micro_batch_size) == (gbs, 1)

    assert m.cp_comm_type == "all_gather"  # Transformer Engine's only CP exchange for sliding windows at any CP
    assert container.dataset.create_attention_mask is False  # a 128k mask would be 16 GiB per sample

    world = cfg.stage.nodes * cfg.cluster.gpus_per_node
    monkeypatch.setenv("WORLD_SIZE", str(world))
    container.validate()
    assert world == 128 and container.data_parallel_size == dp  # 128 / (TP8 x PP2 x CP)
    from megatron.bridge.training.config import runtime_config_update

    runtime_config_update(container)  # pretrain's first call: megatron-core's TransformerConfig checks with CP on
    assert container.model.context_parallel_size == cp


def test_128k_container_refuses_a_world_smaller_than_one_replica(tmp_path, monkeypatch):
    cfg = to_object(compose("cpt", CARD_27B + ["context=long_128k"]))
    container = build_config_container(cfg, tmp_path / "run", stage="cpt")
    monkeypatch.setenv("WORLD_SIZE", "64")  # one replica is TP8 x PP2 x CP8 = 128 GPUs
    with pytest.raises(AssertionError, match=r"world size \(64\) is not divisible"):
        container.validate()
