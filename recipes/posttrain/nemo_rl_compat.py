"""What the loss classes share with NeMo-RL: its `LossType` enum and per-token log-probs from logits.

NeMo-RL's trainers compare `loss_fn.loss_type` with their own enum, so inside the NeMo-RL container the real enum
is used; elsewhere an enum with the same members and values stands in."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import torch

try:  # NeMo-RL >= 0.4 moved the interfaces into nemo_rl.algorithms.loss
    from nemo_rl.algorithms.loss.interfaces import LossType
except ImportError:
    try:
        from nemo_rl.algorithms.interfaces import LossType
    except ImportError:

        class LossType(enum.Enum):  # type: ignore[no-redef]
            TOKEN_LEVEL = "token_level"
            SEQUENCE_LEVEL = "sequence_level"


def next_token_logprobs(next_token_logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """log p(input_ids[:, t+1] | input_ids[:, :t+1]) for t < S-1, shape [B, S-1], computed in float32.

    Position t of the result scores token t+1, the layout NeMo-RL's losses use after slicing their masks [:, 1:]."""
    if next_token_logits.shape[:2] != input_ids.shape:
        raise ValueError(
            f"next_token_logits has batch/sequence shape {tuple(next_token_logits.shape[:2])} but input_ids has "
            f"{tuple(input_ids.shape)}; pass the logits of the same (unpacked, unsharded) batch"
        )
    logprobs = torch.log_softmax(next_token_logits[:, :-1].float(), dim=-1)
    targets = input_ids[:, 1:].to(logprobs.device)
    return logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def require_keys(data: Mapping[str, Any], keys: tuple[str, ...], loss_name: str) -> None:
    missing = [key for key in keys if key not in data]
    if missing:
        raise KeyError(f"{loss_name}: the batch lacks {missing}; the trainer must put them in the BatchedDataDict")


def refuse_vocab_parallel(vocab_parallel_group: object, loss_name: str) -> None:
    """These losses take whole-vocabulary logits: a tensor-parallel vocabulary shard would give wrong log-probs."""
    if vocab_parallel_group is not None:
        raise ValueError(
            f"{loss_name} needs full-vocabulary logits but got a vocab-parallel shard; gather the logits first "
            "(or run the policy without tensor-parallel logits)"
        )
