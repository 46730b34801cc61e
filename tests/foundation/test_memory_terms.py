"""The memory model's documented terms, worked by hand on the 27B layout (conf/model/gemma3_27b.yaml):
sequence parallelism (Korthikanti et al. 2022, arXiv 2205.05198, section 4.2.2: it splits the norm activations that
tensor parallelism alone leaves whole) and the micro-batches the first pipeline stage holds with interleaving
(section 4.2.3: p micro-batches, times 1 + (p - 1) / (p m) with m virtual stages). How close the totals come to a
GPU measurement is #19's check, not this file's."""

import pytest

from recipes import memory
from recipes.config import compose, to_object

BIG = ["experiment=sealion_v4_27b", "cluster=slurm", "launch.check_paths=false"]
NO_RECOMPUTE = ["model.recompute_granularity=null", "model.recompute_modules=[]"]
# conf/model/gemma3_27b.yaml: hidden 5376, FFN 21504, 32 heads and 16 KV groups of 128 channels; TP 8, PP 2.
H, F, Q, KV, TP = 5376, 21504, 32 * 128, 16 * 128, 8
S, B = 8192, 1  # sequence length and micro-batch size of the sealion_v4_27b experiment
WORLD = 128  # 16 nodes x 8 GPUs: DP = 128 / (TP 8 x PP 2) = 8


def cfg_of(*overrides):
    return to_object(compose("cpt", [*BIG, *overrides]))


@pytest.fixture(scope="module")
def base():
    cfg = cfg_of(*NO_RECOMPUTE)
    m = cfg.model
    assert (m.hidden_size, m.ffn_hidden_size, m.num_attention_heads * m.kv_channels) == (H, F, Q)
    assert (m.num_query_groups * m.kv_channels, m.tensor_model_parallel_size, m.sequence_parallel) == (KV, TP, True)
    assert (cfg.dataset.sequence_length, cfg.train.micro_batch_size) == (S, B)
    return cfg


def _per_layer(cfg):
    return memory.activation_bytes_per_layer(cfg, memory.parallelism(cfg, WORLD))


def test_sequence_parallel_splits_the_norm_activations_over_tp(base):
    # bf16 (2 bytes) per element. Per token: norms 4h, Q/K/V + attention output 2q + 2kv, FFN gate/up + GeLU 3f.
    # With SP every part is split over TP: 2 x 8192 x (21504 + 12288 + 64512) / 8 = 201,326,592 bytes.
    with_sp = _per_layer(base)
    assert with_sp == 2 * S * B * (4 * H + 2 * Q + 2 * KV + 3 * F) / TP == 201_326_592
    # Without SP the norm part 4h stays whole on every TP rank: 7/8 of 2 x 8192 x 21504 more.
    without_sp = _per_layer(cfg_of(*NO_RECOMPUTE, "model.sequence_parallel=false"))
    assert without_sp - with_sp == 2 * S * B * 4 * H * (1 - 1 / TP) == 308_281_344
    # Full recompute keeps each layer's input (h per token), split over TP only with SP.
    full = ["model.recompute_granularity=full", "model.recompute_method=uniform"]
    assert _per_layer(cfg_of(*full)) == 2 * S * B * H / TP
    assert _per_layer(cfg_of(*full, "model.sequence_parallel=false")) == 2 * S * B * H
    # Selective recompute of core attention drops Q/K/V and the attention output; of the MLP, the 3f part.
    assert _per_layer(cfg_of()) == 2 * S * B * (4 * H + 3 * F) / TP
    assert _per_layer(cfg_of("model.recompute_modules=[core_attn,mlp]")) == 2 * S * B * 4 * H / TP


@pytest.mark.parametrize("pp, vp, first_last, gbs, in_flight", [
    (2, None, [], 1024, 2),  # 1F1B: PP micro-batches in flight on the first stage
    (2, 2, [], 1024, 2 * (1 + 1 / 4)),  # interleaved: 2 x (1 + 1 / (2 x 2)) = 2.5
    (4, 2, ["model.num_layers_in_first_pipeline_stage=14", "model.num_layers_in_last_pipeline_stage=16"],
     1024, 4 * (1 + 3 / 8)),  # 4 x (1 + 3 / (4 x 2)) = 5.5
    # 16 sequences over DP 8 at micro-batch 1: only 2 micro-batches exist, so no more than 2 are in flight.
    (2, 2, [], 16, 2),
])
def test_first_stage_holds_the_micro_batches_in_flight(base, pp, vp, first_last, gbs, in_flight):
    cfg = cfg_of(*NO_RECOMPUTE, f"model.pipeline_model_parallel_size={pp}",
                 f"model.virtual_pipeline_model_parallel_size={vp or 'null'}", *first_last,
                 f"train.global_batch_size={gbs}")
    first_stage_layers = 14 if first_last else 62 // pp
    # DP = 128 / (8 x pp): the distributed optimizer and micro-batch count change with it, the per-layer bytes not.
    per_layer = 2 * S * B * (4 * H + 2 * Q + 2 * KV + 3 * F) / TP
    assert memory.estimate(cfg, WORLD).activations_gib == pytest.approx(
        per_layer * first_stage_layers * in_flight / 1024**3, rel=1e-12)
