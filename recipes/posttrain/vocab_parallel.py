"""Next-token log-probs from logits whose vocabulary dimension may be split over tensor-parallel ranks.

NeMo-RL v0.5.0 hands a loss three kinds of logits (`nemo_rl/algorithms/loss_functions.py` at v0.5.0, the branches
before each loss's log-softmax):
- whole-vocabulary logits (no tensor parallelism);
- a DTensor sharded on the vocabulary (`Shard(-1)`): the DTensor policy workers, whose Gemma 3 plan ends in
  `ColwiseParallel(output_layouts=Shard(-1), use_local_output=False)` (`nemo_rl/models/dtensor/parallelize.py`);
- this rank's plain slice of the vocabulary with `vocab_parallel_group` / `vocab_parallel_rank` set: the Megatron
  worker (`nemo_rl/models/megatron/common.py`), which always passes its tensor- and context-parallel groups.

On a shard, log p(t) = z_t - logsumexp(z) needs two sums over the whole vocabulary (sum of exp and the target's
logit, held by one rank), each an all-reduce over the group.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor, Shard


class _SumOverShards(torch.autograd.Function):
    """All-reduce (sum) forward, identity backward: every rank computes the same loss from the summed value and
    back-propagates it itself, so each shard's gradient is its own term's (Megatron's reduce-from-tensor-parallel
    contract). Summing the gradients too would scale them by the group size."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, group: Any) -> torch.Tensor:
        total = tensor.clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
        return total

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


def _sharded_logprobs(shard: torch.Tensor, targets: torch.Tensor, vocab_start: int, group: Any) -> torch.Tensor:
    """log p(targets) from this rank's logits for vocabulary ids [vocab_start, vocab_start + shard.shape[-1])."""
    with torch.no_grad():  # any shift gives the same log-softmax; the global max keeps exp() finite
        shift = shard.max(-1).values
        dist.all_reduce(shift, op=dist.ReduceOp.MAX, group=group)
    shifted = shard - shift.unsqueeze(-1)
    sum_exp = _SumOverShards.apply(shifted.exp().sum(-1), group)
    local = targets - vocab_start
    here = (local >= 0) & (local < shard.shape[-1])
    target_logit = shifted.gather(-1, local.clamp(0, shard.shape[-1] - 1).unsqueeze(-1)).squeeze(-1)
    target_logit = _SumOverShards.apply(target_logit * here, group)
    return target_logit - sum_exp.log()


def _dtensor_vocab_shard(logits: DTensor) -> tuple[torch.Tensor, Any, int]:
    """(local logits, the vocabulary's process group or None when replicated, first vocabulary id held here)."""
    vocab_dim = logits.ndim - 1
    vocab_mesh_dims = []
    for mesh_dim, placement in enumerate(logits.placements):
        if isinstance(placement, Shard) and placement.dim % logits.ndim == vocab_dim:
            vocab_mesh_dims.append(mesh_dim)
        elif not placement.is_replicate():
            raise ValueError(
                f"logits DTensor placements {logits.placements}: only Shard(-1) (vocabulary) or Replicate are "
                "supported; sequence-sharded logits come from context parallelism, set "
                "policy.dtensor_cfg.context_parallel_size: 1"
            )
    if not vocab_mesh_dims:
        return logits.to_local(), None, 0
    if len(vocab_mesh_dims) > 1:
        raise ValueError(f"logits DTensor placements {logits.placements}: vocabulary sharded over several mesh dims")
    mesh_dim = vocab_mesh_dims[0]
    # DTensor's Shard splits like torch.chunk: ceil(V / n) per rank, the last ones shorter.
    chunk = math.ceil(logits.shape[-1] / logits.device_mesh.size(mesh_dim))
    rank = logits.device_mesh.get_local_rank(mesh_dim)
    return logits.to_local(), logits.device_mesh.get_group(mesh_dim), min(rank * chunk, logits.shape[-1])


def next_token_logprobs(
    next_token_logits: torch.Tensor,
    input_ids: torch.Tensor,
    vocab_parallel_rank: int | None = None,
    vocab_parallel_group: Any = None,
    context_parallel_group: Any = None,
) -> torch.Tensor:
    """log p(input_ids[:, t+1] | input_ids[:, :t+1]) for t < S-1, shape [B, S-1], float32, on any of the three
    kinds of logits above; a plain tensor on every rank. Position t of the result scores token t+1, the layout
    NeMo-RL's losses use after slicing their masks [:, 1:].

    The logits may run longer than input_ids: with sequence packing NeMo-RL's SequencePackingLossWrapper
    (`loss_functions.py` at v0.5.0) passes each sequence's logits at its padded length and its data unpadded."""
    rows, length = input_ids.shape
    if next_token_logits.shape[0] != rows or next_token_logits.shape[1] < length:
        raise ValueError(
            f"next_token_logits has batch/sequence shape {tuple(next_token_logits.shape[:2])} but input_ids has "
            f"{tuple(input_ids.shape)}; pass the logits of the same (unpacked) batch"
        )
    if context_parallel_group is not None and dist.get_world_size(context_parallel_group) > 1:
        raise ValueError(
            "these losses do not take context-parallel (sequence-split) logits; set "
            "policy.megatron_cfg.context_parallel_size: 1"
        )
    group, vocab_start = None, 0
    if vocab_parallel_group is not None:
        if vocab_parallel_rank is None:
            raise ValueError("vocab_parallel_group is set but vocab_parallel_rank is None; pass both")
        # Megatron splits a (padded) vocabulary into equal parts.
        logits, group = next_token_logits, vocab_parallel_group
        vocab_start = vocab_parallel_rank * logits.shape[-1]
    elif isinstance(next_token_logits, DTensor):
        logits, group, vocab_start = _dtensor_vocab_shard(next_token_logits)
    else:
        logits = next_token_logits
    logits = logits[:, : length - 1].float()
    targets = input_ids[:, 1:].to(logits.device)
    if group is None:
        return torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return _sharded_logprobs(logits, targets, vocab_start, group)
