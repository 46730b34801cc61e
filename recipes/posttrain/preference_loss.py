"""Preference losses on sequence log-probs: DPO (sigmoid) and APO-zero / APO-down (D'Oosterlinck et al. 2024,
arXiv 2408.06266), the stage apo's objective on CLAIR revision pairs.

With r_c = beta * (log pi(chosen) - log pi_ref(chosen)) and r_r likewise for the rejected answer:

    sigmoid:  -log sigmoid(r_c - r_r)
    apo_zero: (1 - sigmoid(r_c)) + sigmoid(r_r)          push chosen up and rejected down, each on its own
    apo_down: sigmoid(r_c) + (1 - sigmoid(r_c - r_r))    chosen may go down too, but rejected must go down more

These are TRL DPOTrainer's `loss_type` "sigmoid" / "apo_zero" / "apo_down". NeMo-RL's DPO has only the sigmoid
loss; `PreferenceLossFn` has its `DPOLossFn` call signature and batch layout so the DPO trainer can run APO:
chosen and rejected rows interleaved (rows [::2] chosen, [1::2] rejected), `reference_policy_logprobs` rolled
left by one as NeMo-RL's DPO does (position t holds the log-prob of token t+1), `beta` is its
`dpo.reference_policy_kl_penalty`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from recipes.posttrain.nemo_rl_compat import LossType, require_keys
from recipes.posttrain.vocab_parallel import next_token_logprobs

Objective = Literal["sigmoid", "apo_zero", "apo_down"]
_OBJECTIVES = ("sigmoid", "apo_zero", "apo_down")


@dataclass(frozen=True)
class PreferenceLossConfig:
    objective: Objective = "apo_zero"
    beta: float = 0.1
    preference_average_log_probs: bool = False
    sft_loss_weight: float = 0.0
    sft_average_log_probs: bool = False

    def __post_init__(self) -> None:
        if self.objective not in _OBJECTIVES:
            raise ValueError(f"PreferenceLossConfig.objective={self.objective!r}; choose one of {_OBJECTIVES}")
        if self.beta <= 0:
            raise ValueError(f"PreferenceLossConfig.beta={self.beta} must be > 0 (it scales the log-ratios)")
        if self.sft_loss_weight < 0:
            raise ValueError(f"PreferenceLossConfig.sft_loss_weight={self.sft_loss_weight} must be >= 0")


def preference_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    reference_chosen_logps: torch.Tensor,
    reference_rejected_logps: torch.Tensor,
    beta: float,
    objective: Objective,
) -> torch.Tensor:
    """Per-pair loss [P] from sequence log-probs [P] of the policy and the reference."""
    chosen_reward = beta * (policy_chosen_logps - reference_chosen_logps)
    rejected_reward = beta * (policy_rejected_logps - reference_rejected_logps)
    if objective == "sigmoid":
        return -F.logsigmoid(chosen_reward - rejected_reward)
    if objective == "apo_zero":
        return (1 - torch.sigmoid(chosen_reward)) + torch.sigmoid(rejected_reward)
    if objective == "apo_down":
        return torch.sigmoid(chosen_reward) + (1 - torch.sigmoid(chosen_reward - rejected_reward))
    raise ValueError(f"objective={objective!r}; choose one of {_OBJECTIVES}")


def sequence_logprobs(token_logprobs: torch.Tensor, mask: torch.Tensor, average: bool = False) -> torch.Tensor:
    """Sum (or mean) of the masked token log-probs per row."""
    mask = mask.to(token_logprobs.dtype)
    total = (token_logprobs * mask).sum(-1)
    return total / mask.sum(-1).clamp(min=1) if average else total


class PreferenceLossFn:
    """NeMo-RL `LossFunction` (the shape of its `DPOLossFn`) for DPO / APO-zero / APO-down, on whole or
    vocabulary-parallel logits (recipes.posttrain.vocab_parallel). Metrics are sums over the global pair count,
    so NeMo-RL's sum over micro-batches gives whole-batch values."""

    loss_type = LossType.SEQUENCE_LEVEL

    def __init__(self, config: PreferenceLossConfig):
        self.config = config

    def __call__(
        self,
        next_token_logits: torch.Tensor,
        data: Mapping[str, torch.Tensor],
        global_valid_seqs: torch.Tensor,
        global_valid_toks: torch.Tensor | None,
        vocab_parallel_rank: int | None = None,
        vocab_parallel_group: Any = None,
        context_parallel_group: Any = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        require_keys(data, ("input_ids", "token_mask", "sample_mask", "reference_policy_logprobs"), "PreferenceLossFn")
        rows = data["input_ids"].shape[0]
        if rows % 2:
            raise ValueError(f"PreferenceLossFn: got {rows} rows; chosen/rejected must be interleaved in pairs")

        token_logprobs = next_token_logprobs(
            next_token_logits, data["input_ids"], vocab_parallel_rank, vocab_parallel_group, context_parallel_group
        )
        device = token_logprobs.device
        mask = data["token_mask"][:, 1:].to(device, torch.float32)
        reference_token_logprobs = data["reference_policy_logprobs"][:, :-1].to(device, torch.float32)
        average = self.config.preference_average_log_probs
        policy_logps = sequence_logprobs(token_logprobs, mask, average)
        reference_logps = sequence_logprobs(reference_token_logprobs, mask, average)

        pair_mask = data["sample_mask"][::2].to(device, torch.float32)
        num_pairs = global_valid_seqs / 2
        per_pair = preference_loss(
            policy_logps[::2],
            policy_logps[1::2],
            reference_logps[::2],
            reference_logps[1::2],
            self.config.beta,
            self.config.objective,
        )
        loss_preference = (per_pair * pair_mask).sum() / num_pairs

        loss_sft = torch.zeros((), device=device)
        if self.config.sft_loss_weight:
            chosen_nll = -sequence_logprobs(token_logprobs[::2], mask[::2], self.config.sft_average_log_probs)
            loss_sft = (chosen_nll * pair_mask).sum() / num_pairs
        loss = loss_preference + self.config.sft_loss_weight * loss_sft

        with torch.no_grad():
            chosen_reward = self.config.beta * (policy_logps[::2] - reference_logps[::2])
            rejected_reward = self.config.beta * (policy_logps[1::2] - reference_logps[1::2])
            accuracy = ((chosen_reward > rejected_reward).float() * pair_mask).sum() / num_pairs
        return loss, {
            "loss": loss.item(),
            "preference_loss": loss_preference.item(),
            "sft_loss": loss_sft.item(),
            "accuracy": accuracy.item(),
            "rewards_chosen_mean": ((chosen_reward * pair_mask).sum() / num_pairs).item(),
            "rewards_rejected_mean": ((rejected_reward * pair_mask).sum() / num_pairs).item(),
            "num_valid_samples": pair_mask.sum().item(),
        }
