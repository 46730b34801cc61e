"""Per-GPU memory and FLOP estimates for a Gemma 3 training step under Megatron's parallelism.

Conventions (Megatron-core with the distributed optimizer, bf16 mixed precision): bf16 weights (2 B/param), fp32
gradient buffers (4 B/param), fp32 master weights + Adam moments (12 B/param) sharded over the data-parallel
ranks (DP x CP) when the distributed optimizer is on. Activations per layer follow Korthikanti et al. (2022)
with flash attention (no s^2 scores stored) and no dropout: per token, the saved tensors are the two norm inputs
and outputs (4h), Q/K/V (h_q + 2 h_kv), the attention output (h_q), the FFN gate+up output (2f) and the GeLU
output (f), in bf16; with sequence parallelism all of it is split over TP, without it the 4h norm part is not.
Selective recompute of core attention drops Q/K/V/attention-output; full recompute keeps only each layer's input.
1F1B pipelining keeps PP micro-batches in flight on the first stage (interleaving adds (PP-1)/(PP*VP)).
The last stage also holds the logits (bf16, plus fp32 for the loss) of the 262k vocabulary, and in the backward pass
their gradient (fp32, then bf16 for the output layer). PyTorch's caching allocator keeps about one more set of those
vocabulary-sized blocks reserved but free (fragmentation). A fixed allowance covers the CUDA context, NCCL buffers
and Transformer Engine's workspaces.

Checked against the 27B proxy on one H200 (bench/results/train_throughput_h200_*.json; test_memory_measured.py):
estimate 82.3 GiB vs a measured device peak of 81.0; allocated 66.4 and reserved 78.2 measured against 66.3 and 78.3
from these terms.
"""

from __future__ import annotations

from dataclasses import dataclass

from recipes.core.model_size import parameter_counts, total_parameters
from recipes.core.schema import RootConfig

GIB = 1024**3
#: CUDA context, NCCL buffers and Transformer Engine's workspaces (outside the caching allocator): 2.8 GiB measured
#: on the proxy (device peak 81.0 less 78.2 reserved), rounded up.
FIXED_OVERHEAD_GIB = 4.0


@dataclass(frozen=True)
class Parallelism:
    tp: int
    pp: int
    cp: int
    vp: int
    dp: int
    world: int


@dataclass(frozen=True)
class MemoryEstimate:
    weights_gib: float
    grads_gib: float
    optimizer_gib: float
    activations_gib: float
    logits_gib: float
    overhead_gib: float
    logits_grad_gib: float
    allocator_reserve_gib: float

    @property
    def allocated_gib(self) -> float:
        """What torch.cuda.max_memory_allocated() should report."""
        return (
            self.weights_gib
            + self.grads_gib
            + self.optimizer_gib
            + self.activations_gib
            + self.logits_gib
            + self.logits_grad_gib
        )

    @property
    def reserved_gib(self) -> float:
        """What torch.cuda.max_memory_reserved() should report."""
        return self.allocated_gib + self.allocator_reserve_gib

    @property
    def total_gib(self) -> float:
        """The device's peak use (nvidia-smi, or total - free)."""
        return self.reserved_gib + self.overhead_gib


def layers_per_stage(cfg: RootConfig) -> list[int]:
    m = cfg.model
    pp = m.pipeline_model_parallel_size
    first, last = m.num_layers_in_first_pipeline_stage, m.num_layers_in_last_pipeline_stage
    if first is None and last is None:
        return [m.num_layers // pp] * pp
    fixed = (first or 0) + (last or 0)
    middle_count = pp - (first is not None) - (last is not None)
    middle = (m.num_layers - fixed) // middle_count if middle_count else 0
    sizes = [middle] * pp
    if first is not None:
        sizes[0] = first
    if last is not None:
        sizes[-1] = last
    return sizes


def parallelism(cfg: RootConfig, world: int) -> Parallelism:
    m = cfg.model
    tp, pp, cp = m.tensor_model_parallel_size, m.pipeline_model_parallel_size, m.context_parallel_size
    return Parallelism(
        tp=tp,
        pp=pp,
        cp=cp,
        vp=m.virtual_pipeline_model_parallel_size or 1,
        dp=max(world // (tp * pp * cp), 1),
        world=world,
    )


def activation_bytes_per_layer(cfg: RootConfig, par: Parallelism) -> float:
    m = cfg.model
    s = cfg.dataset.sequence_length / par.cp
    b = cfg.train.micro_batch_size
    h, f = m.hidden_size, m.ffn_hidden_size
    q, kv = m.num_attention_heads * m.kv_channels, m.num_query_groups * m.kv_channels
    if m.recompute_granularity == "full":
        return 2 * s * b * h / (par.tp if m.sequence_parallel else 1)
    norm_part = 4 * h
    attention_part = q + 2 * kv + q
    if m.recompute_granularity == "selective" and "core_attn" in m.recompute_modules:
        attention_part = 0
    mlp_part = 3 * f
    if "mlp" in m.recompute_modules and m.recompute_granularity == "selective":
        mlp_part = 0
    split = (norm_part / (par.tp if m.sequence_parallel else 1)) + (attention_part + mlp_part) / par.tp
    return 2 * s * b * split


def estimate(cfg: RootConfig, world: int) -> MemoryEstimate:
    """Peak per-GPU memory of the most loaded pipeline stage (first or last)."""
    par = parallelism(cfg, world)
    per_layer, embedding = parameter_counts(cfg)
    stages = layers_per_stage(cfg)
    tied = cfg.model.share_embeddings_and_output_weights
    # First stage: its layers + the input embedding; last stage: its layers + the output layer (a copy if tied).
    first_params = (stages[0] * per_layer + embedding) / par.tp
    last_params = (stages[-1] * per_layer + (embedding if (par.pp > 1 or not tied) else 0)) / par.tp
    params = max(first_params, last_params)
    fp8_weights = 0.0  # FP8 keeps bf16 master weights in Megatron; no saving assumed here
    weights = 2 * params + fp8_weights
    grads = 4 * params
    shards = par.dp * par.cp if cfg.optimizer.use_distributed_optimizer else 1
    optimizer = 12 * params / shards
    microbatches = cfg.train.global_batch_size // (cfg.train.micro_batch_size * par.dp)
    in_flight = par.pp * (1 + (par.pp - 1) / (par.pp * par.vp)) if par.vp > 1 else par.pp
    in_flight = min(in_flight, max(microbatches, 1))
    activations = activation_bytes_per_layer(cfg, par) * stages[0] * in_flight
    tokens = cfg.dataset.sequence_length / par.cp * cfg.train.micro_batch_size
    logits_elements = tokens * cfg.model.vocab_size / par.tp
    logits = logits_elements * (2 + 4)
    # The fused cross-entropy's gradient (megatron/core/fusions/fused_cross_entropy.py, core_v0.16.1): fp32, cast to
    # bf16 for the output layer's backward. The measured allocation (66.4 GiB on the proxy = model state 51.3 +
    # activations 3.0 + 12.1) shows all four vocabulary-sized copies alive at the peak: inferred, not traced.
    logits_grad = logits_elements * (4 + 2)
    return MemoryEstimate(
        weights_gib=weights / GIB,
        grads_gib=grads / GIB,
        optimizer_gib=optimizer / GIB,
        activations_gib=activations / GIB,
        logits_gib=logits / GIB,
        overhead_gib=FIXED_OVERHEAD_GIB,
        logits_grad_gib=logits_grad / GIB,
        # reserved but free, measured on the proxy: 78.2 - 66.4 = 11.8 GiB, the size of the
        # vocabulary-sized buffers (12.0): fitted to one measurement, not derived
        allocator_reserve_gib=(logits + logits_grad) / GIB,
    )


def flops_per_token(cfg: RootConfig) -> float:
    """Model FLOPs per trained token (forward + backward): 6N plus attention, the convention the GPU measurements
    in shared/notes/gpu-test-machine.md use: a global layer's query sees s/2 keys on average (causal), a local
    layer's the window (its first `window` tokens see fewer; not subtracted). Recompute is not counted."""
    m = cfg.model
    s = cfg.dataset.sequence_length
    local, global_ = m.interleaved_attn_pattern
    n_global = m.num_layers // (local + global_) * global_ + max(0, m.num_layers % (local + global_) - local)
    n_local = m.num_layers - n_global
    q = m.num_attention_heads * m.kv_channels
    # Per layer, per token: QK^T and AV are 2 matmuls of q x keys, 2 FLOPs per MAC, x3 for fwd+bwd = 12 q keys.
    attention = 12 * q * (n_global * s / 2 + n_local * min(m.window_size, s))
    return 6 * total_parameters(cfg) + attention
