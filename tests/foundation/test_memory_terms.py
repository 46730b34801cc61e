"""The memory model's documented terms, worked by hand on the 27B layout (conf/model/gemma3_27b.yaml):
sequence parallelism (Korthikanti et al. 2022, arXiv 2205.05198, section 4.2.2: it splits the norm activations that
tensor parallelism alone leaves whole) and the micro-batches the first pipeline stage holds with interleaving
(section 4.2.3: p micro-batches, times 1 + (p - 1) / (p m) with m virtual stages). How close the totals come to a
GPU measurement is #19's check, not this file's."""

import pytest

from recipes.core.config import to_object
from recipes.stages import compose
from recipes.submit import memory

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


@pytest.mark.parametrize(
    "pp, vp, first_last, gbs, in_flight",
    [
        (2, None, [], 1024, 2),  # 1F1B: PP micro-batches in flight on the first stage
        (2, 2, [], 1024, 2 * (1 + 1 / 4)),  # interleaved: 2 x (1 + 1 / (2 x 2)) = 2.5
        (
            4,
            2,
            ["model.num_layers_in_first_pipeline_stage=14", "model.num_layers_in_last_pipeline_stage=16"],
            1024,
            4 * (1 + 3 / 8),
        ),  # 4 x (1 + 3 / (4 x 2)) = 5.5
        # 16 sequences over DP 8 at micro-batch 1: only 2 micro-batches exist, so no more than 2 are in flight.
        (2, 2, [], 16, 2),
    ],
)
def test_first_stage_holds_the_micro_batches_in_flight(base, pp, vp, first_last, gbs, in_flight):
    cfg = cfg_of(
        *NO_RECOMPUTE,
        f"model.pipeline_model_parallel_size={pp}",
        f"model.virtual_pipeline_model_parallel_size={vp or 'null'}",
        *first_last,
        f"train.global_batch_size={gbs}",
    )
    first_stage_layers = 14 if first_last else 62 // pp
    # DP = 128 / (8 x pp): the distributed optimizer and micro-batch count change with it, the per-layer bytes not.
    per_layer = 2 * S * B * (4 * H + 2 * Q + 2 * KV + 3 * F) / TP
    assert memory.estimate(cfg, WORLD).activations_gib == pytest.approx(
        per_layer * first_stage_layers * in_flight / 1024**3, rel=1e-12
    )


# The real Gemma 3 270M (18 layers, hidden 640, 4 heads of 256, 1 KV group, vocabulary 262144, tied embeddings,
# 5 local layers of window 512 per global one): its tensor count is read from the checkpoint, not from the model.
def _real_parameters(gemma3_dir):
    import math

    from safetensors import safe_open

    with safe_open(gemma3_dir / "model.safetensors", "pt") as f:
        return sum(math.prod(f.get_slice(name).get_shape()) for name in f.keys())


def small_cfg(*overrides):
    return to_object(
        compose(
            "cpt",
            [
                "model=gemma3_270m",
                "train.global_batch_size=8",
                "train.micro_batch_size=2",
                "dataset.sequence_length=1024",
                *overrides,
            ],
        )
    )


def test_270m_weights_grads_optimizer_and_logits_from_the_checkpoint(gemma3_dir):
    real = _real_parameters(gemma3_dir)
    # One GPU: its stage holds every tensor but the final norm (640), which no stage is charged for.
    est = memory.estimate(small_cfg(), 1)
    params = real - 640
    assert est.weights_gib * 1024**3 == pytest.approx(2 * params, rel=1e-12)  # bf16
    assert est.grads_gib * 1024**3 == pytest.approx(4 * params, rel=1e-12)  # fp32 gradient buffer
    assert est.optimizer_gib * 1024**3 == pytest.approx(12 * params, rel=1e-12)  # master + 2 Adam moments
    # Logits of the micro-batch (2 x 1024 tokens) over 262144 entries, bf16 and fp32: 2 x 1024 x 262144 x 6 bytes.
    assert est.logits_gib * 1024**3 == 2 * 1024 * 262144 * 6
    # The logits' gradient and the allocator's reserve (both fitted to the H200 measurement: test_memory_measured.py)
    # are named terms of their own on top.
    assert est.total_gib == pytest.approx(
        est.weights_gib
        + est.grads_gib
        + est.optimizer_gib
        + est.activations_gib
        + est.logits_gib
        + est.logits_grad_gib
        + est.allocator_reserve_gib
        + memory.FIXED_OVERHEAD_GIB
    )
    # TP 2 splits the logits over the vocabulary.
    tp2 = memory.estimate(small_cfg("model.tensor_model_parallel_size=2"), 2)
    assert tp2.logits_gib * 1024**3 == 2 * 1024 * 262144 * 6 / 2
    # Four data-parallel GPUs with a context-parallel pair (world 8): the optimizer is sharded over DP x CP = 8
    # (DP = 8 / CP 2 = 4); each CP rank holds 512 tokens' logits.
    cp = memory.estimate(small_cfg("model.context_parallel_size=2"), 8)
    assert cp.optimizer_gib * 1024**3 == pytest.approx(12 * params / 8, rel=1e-12)
    assert cp.logits_gib * 1024**3 == 2 * 512 * 262144 * 6
    # Untied output weights add a vocabulary x hidden matrix to the model.
    untied = small_cfg("model.share_embeddings_and_output_weights=false")
    assert memory.total_parameters(untied) == real + 262144 * 640


def test_270m_flops_per_token_is_6n_plus_attention(gemma3_dir):
    real = _real_parameters(gemma3_dir)
    # 2048 tokens. 18 layers in groups of 5 local + 1 global: 3 global layers (a query sees s/2 = 1024 keys on
    # average) and 15 local ones (the 512-token window); 12 FLOPs per query channel per key, 1024 query channels.
    s2048 = "dataset.sequence_length=2048"
    assert memory.flops_per_token(small_cfg(s2048)) == 6 * real + 12 * 1024 * (3 * 1024 + 15 * 512)
    # A window longer than the sequence is cut to it: 256 tokens, each local layer at most 256 keys.
    assert memory.flops_per_token(small_cfg("dataset.sequence_length=256")) == 6 * real + 12 * 1024 * (
        3 * 256 / 2 + 15 * 256
    )
    # Pattern 2 local + 2 global over 7 layers: L L G G L L G, 3 global and 4 local.
    seven = small_cfg(s2048, "model.interleaved_attn_pattern=[2,2]", "model.num_layers=7")
    per_layer = (real - 262144 * 640 - 640) // 18
    assert memory.flops_per_token(seven) == 6 * (7 * per_layer + 262144 * 640 + 640) + 12 * 1024 * (3 * 1024 + 4 * 512)
    # 1 local + 3 global over 6 layers: L G G G L G, 4 global and 2 local.
    six = small_cfg(s2048, "model.interleaved_attn_pattern=[1,3]", "model.num_layers=6")
    assert memory.flops_per_token(six) == 6 * (6 * per_layer + 262144 * 640 + 640) + 12 * 1024 * (4 * 1024 + 2 * 512)


@pytest.mark.parametrize(
    "pp, first, last, stages",
    [
        (2, None, None, [31, 31]),
        (3, None, None, [20, 20, 20]),  # 62 // 3: whole layers
        (4, 14, 16, [14, 16, 16, 16]),
        (4, 14, None, [14, 16, 16, 16]),  # (62 - 14) // 3 in the others
        (4, None, 14, [16, 16, 16, 14]),
        (2, 30, 32, [30, 32]),  # no middle stage
    ],
)
def test_layers_per_pipeline_stage(pp, first, last, stages):
    cfg = cfg_of(
        f"model.pipeline_model_parallel_size={pp}",
        f"model.num_layers_in_first_pipeline_stage={first or 'null'}",
        f"model.num_layers_in_last_pipeline_stage={last or 'null'}",
    )
    assert memory.layers_per_stage(cfg) == stages


def test_the_heavier_of_the_first_and_last_stage_sets_the_weights(base):
    # PP 2 with 30 + 32 layers: the last stage holds 32 layers and the output layer (a copy of the tied
    # embedding), the first 30 layers and the embedding; TP 8 splits both. Per layer and embedding by hand:
    # attention 5376 x (4096 + 2 x 2048) + 4096 x 5376 + 2 x 128, MLP 3 x 5376 x 21504, norms 4 x 5376.
    per_layer = 5376 * (4096 + 2 * 2048) + 4096 * 5376 + 2 * 128 + 3 * 5376 * 21504 + 4 * 5376
    embedding = 262208 * 5376
    cfg = cfg_of("model.num_layers_in_first_pipeline_stage=30", "model.num_layers_in_last_pipeline_stage=32")
    assert memory.estimate(cfg, WORLD).weights_gib * 1024**3 == pytest.approx(
        2 * (32 * per_layer + embedding) / TP, rel=1e-12
    )


@pytest.mark.parametrize(
    "world, tp, pp, cp, dp", [(128, 8, 2, 1, 8), (100, 8, 2, 1, 6), (128, 8, 2, 2, 4), (8, 8, 2, 1, 1)]
)
def test_data_parallel_size_is_whole_and_at_least_one(world, tp, pp, cp, dp):
    cfg = cfg_of(
        f"model.tensor_model_parallel_size={tp}",
        f"model.pipeline_model_parallel_size={pp}",
        f"model.context_parallel_size={cp}",
    )
    par = memory.parallelism(cfg, world)
    assert (par.dp, par.world, par.cp) == (dp, world, cp)


def test_context_parallel_micro_batch_and_attention_recompute_in_the_activations(base):
    per_token = 2 * (4 * H + 2 * Q + 2 * KV + 3 * F) / TP
    # CP 2 halves each rank's sequence; a micro-batch of 2 doubles it.
    assert _per_layer(cfg_of(*NO_RECOMPUTE, "model.context_parallel_size=2")) == per_token * S / 2
    assert _per_layer(cfg_of(*NO_RECOMPUTE, "train.micro_batch_size=2")) == per_token * S * 2
    # core_attn listed without selective granularity recomputes nothing.
    assert (
        _per_layer(cfg_of("model.recompute_granularity=null", "model.recompute_modules=[core_attn]")) == per_token * S
    )
    full = ["model.recompute_granularity=full", "model.recompute_method=uniform", "train.micro_batch_size=2"]
    assert _per_layer(cfg_of(*full)) == 2 * S * 2 * H / TP


def test_in_flight_micro_batches_count_whole_micro_batches(base):
    # Interleaved PP 2 x VP 2 would keep 2 x (1 + 1/4) = 2.5 in flight; GBS 20 over DP 8 at micro-batch 1 makes
    # 20 // 8 = 2 whole micro-batches (not 2.5), so 2 are.
    per_layer = 2 * S * B * (4 * H + 2 * Q + 2 * KV + 3 * F) / TP
    cfg = cfg_of(*NO_RECOMPUTE, "model.virtual_pipeline_model_parallel_size=2", "train.global_batch_size=20")
    assert memory.estimate(cfg, WORLD).activations_gib == pytest.approx(per_layer * 31 * 2 / 1024**3, rel=1e-12)
    # A single micro-batch in all: one in flight (not two).
    one = cfg_of(*NO_RECOMPUTE, "train.global_batch_size=8")
    assert memory.estimate(one, WORLD).activations_gib == pytest.approx(per_layer * 31 * 1 / 1024**3, rel=1e-12)
