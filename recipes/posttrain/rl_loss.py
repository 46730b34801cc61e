"""Clipped policy-gradient loss covering GRPO and Dr. GRPO (the card's "DRGPPO", read as Dr. GRPO: Liu et al.
2025, "Understanding R1-Zero-Like Training", arXiv 2503.20783).

    GRPO:     L = -(1/G) sum_i (1/|o_i|) sum_t min(r_it A_i, clip(r_it, 1-eps_low, 1+eps_high) A_i),
              A_i = (R_i - mean_group R) / std_group R
    Dr. GRPO: L = -(1/G) sum_i (1/L_max) sum_t min(...),   A_i = R_i - mean_group R

with r_it = pi(o_it) / pi_old(o_it) and an optional k3 KL penalty to a reference policy, beta * (exp(q - p) -
(q - p) - 1) with p, q the policy and reference token log-probs, aggregated like the policy term (beta = 0 by
default, as in the Dr. GRPO runs).

Mapping to NeMo-RL's GRPO keys (NVIDIA-NeMo/RL, `nemo_rl/algorithms/grpo.py` and `loss_functions.py`):

| here                                         | NeMo-RL                                   |
| -------------------------------------------- | ----------------------------------------- |
| `aggregation="sequence_mean"` (GRPO)         | `loss_fn.token_level_loss: false`         |
| `aggregation="token_mean"` (DAPO-style)      | `loss_fn.token_level_loss: true`          |
| `aggregation="constant"` (Dr. GRPO)          | none: see below                           |
| `reference_policy_kl_penalty` (beta)         | `loss_fn.reference_policy_kl_penalty`     |
| `ratio_clip_min` / `ratio_clip_max` (eps)    | `loss_fn.ratio_clip_min` / `ratio_clip_max` |

Dr. GRPO in NeMo-RL is normalize_rewards=false, use_leave_one_out_baseline=false, reference_policy_kl_penalty=0,
plus this loss: NeMo-RL's closest option, token_level_loss=true, divides the token sum by the batch's token count,
which still depends on how long the responses are (long wrong answers dilute their own penalty, the length bias
Dr. GRPO removes). Dividing by the constant maximum generation length does not, hence `DrGRPOLossFn`.
Advantages come in with the batch: NeMo-RL's trainer computes them from the rewards (`grpo.normalize_rewards`,
`grpo.use_leave_one_out_baseline`, rendered by recipes.engines.nemo_rl_config) before the loss.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from recipes.posttrain.nemo_rl_compat import LossType, require_keys
from recipes.posttrain.vocab_parallel import next_token_logprobs

Aggregation = Literal["constant", "sequence_mean", "token_mean"]
_AGGREGATIONS = ("constant", "sequence_mean", "token_mean")


@dataclass(frozen=True)
class DrGRPOLossConfig:
    """Loss options; the defaults are Dr. GRPO's except `max_generation_length`, which must match rollouts."""

    max_generation_length: int | None = None
    aggregation: Aggregation = "constant"
    ratio_clip_min: float = 0.2
    ratio_clip_max: float = 0.2
    reference_policy_kl_penalty: float = 0.0

    def __post_init__(self) -> None:
        if self.aggregation not in _AGGREGATIONS:
            raise ValueError(f"DrGRPOLossConfig.aggregation={self.aggregation!r}; choose one of {_AGGREGATIONS}")
        if self.aggregation == "constant" and (self.max_generation_length or 0) <= 0:
            raise ValueError(
                "DrGRPOLossConfig.max_generation_length must be a positive token count with aggregation='constant' "
                "(set it to the rollout's max new tokens, e.g. policy.generation.max_new_tokens)"
            )
        for name in ("ratio_clip_min", "ratio_clip_max", "reference_policy_kl_penalty"):
            if getattr(self, name) < 0:
                raise ValueError(f"DrGRPOLossConfig.{name}={getattr(self, name)} must be >= 0")

    @classmethod
    def dr_grpo(cls, max_generation_length: int, **overrides: Any) -> DrGRPOLossConfig:
        return cls(max_generation_length=max_generation_length, **overrides)

    @property
    def loss_type(self) -> LossType:
        """NeMo-RL's global normaliser: token count for token_mean, sequence count otherwise."""
        return LossType.TOKEN_LEVEL if self.aggregation == "token_mean" else LossType.SEQUENCE_LEVEL


@dataclass(frozen=True)
class PolicyLossOutput:
    """`clip_fraction` and `mean_ratio` are token sums over `num_tokens`: with the global count, summing them over
    micro-batches (as NeMo-RL's trainer sums loss metrics) gives the whole batch's fraction and mean."""

    loss: torch.Tensor
    policy_loss: torch.Tensor
    kl_penalty: torch.Tensor
    clip_fraction: float
    mean_ratio: float


def k3_kl(logprobs: torch.Tensor, reference_logprobs: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimator of KL(pi || pi_ref) per token: unbiased, always >= 0."""
    log_ratio = reference_logprobs - logprobs
    return torch.exp(log_ratio) - log_ratio - 1


def _aggregate(
    per_token: torch.Tensor,
    mask: torch.Tensor,
    config: DrGRPOLossConfig,
    num_sequences: torch.Tensor | float,
    num_tokens: torch.Tensor | float,
) -> torch.Tensor:
    masked = per_token * mask
    if config.aggregation == "token_mean":
        return masked.sum() / num_tokens
    if config.aggregation == "sequence_mean":
        per_sequence = masked.sum(-1) / mask.sum(-1).clamp(min=1)
        return per_sequence.sum() / num_sequences
    assert config.max_generation_length is not None  # DrGRPOLossConfig refuses "constant" without it
    return masked.sum() / (config.max_generation_length * num_sequences)


def clipped_policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    config: DrGRPOLossConfig,
    reference_logprobs: torch.Tensor | None = None,
    num_sequences: torch.Tensor | float | None = None,
    num_tokens: torch.Tensor | float | None = None,
) -> PolicyLossOutput:
    """The loss on response-token log-probs [B, T] (mask 1 on response tokens of valid samples).

    `advantages` is [B] (one per response) or [B, T]. `num_sequences` / `num_tokens` are the global counts when
    the batch is split over micro-batches or ranks (summing the per-part losses then gives the whole-batch loss);
    they default to this batch's own counts (rows with at least one masked-in token; masked-in tokens)."""
    if logprobs.shape != old_logprobs.shape or logprobs.shape != mask.shape:
        raise ValueError(
            f"logprobs {tuple(logprobs.shape)}, old_logprobs {tuple(old_logprobs.shape)} and mask "
            f"{tuple(mask.shape)} must all be [batch, tokens]"
        )
    if advantages.ndim == 1:
        advantages = advantages.unsqueeze(-1)
    mask = mask.to(logprobs.dtype)
    if num_sequences is None:
        num_sequences = (mask.sum(-1) > 0).sum().clamp(min=1)
    if num_tokens is None:
        num_tokens = mask.sum().clamp(min=1)

    ratio = torch.exp(logprobs - old_logprobs)
    clipped_ratio = ratio.clamp(1.0 - config.ratio_clip_min, 1.0 + config.ratio_clip_max)
    unclipped_loss = -advantages * ratio
    clipped_loss = -advantages * clipped_ratio
    per_token = torch.maximum(unclipped_loss, clipped_loss)
    policy_loss = _aggregate(per_token, mask, config, num_sequences, num_tokens)

    if config.reference_policy_kl_penalty:
        if reference_logprobs is None:
            raise ValueError("reference_policy_kl_penalty > 0 needs reference_logprobs (the reference policy's)")
        kl = config.reference_policy_kl_penalty * k3_kl(logprobs, reference_logprobs)
        kl_penalty = _aggregate(kl, mask, config, num_sequences, num_tokens)
    else:
        kl_penalty = torch.zeros((), dtype=policy_loss.dtype, device=policy_loss.device)

    with torch.no_grad():
        clipped = (clipped_loss > unclipped_loss) & mask.bool()
        clip_fraction = float(clipped.sum() / num_tokens)
        mean_ratio = float((ratio * mask).sum() / num_tokens)
    return PolicyLossOutput(policy_loss + kl_penalty, policy_loss, kl_penalty, clip_fraction, mean_ratio)


class DrGRPOLossFn:
    """NeMo-RL `LossFunction` for GRPO / Dr. GRPO; a drop-in for `ClippedPGLossFn` in NeMo-RL's GRPO trainer.

    Reads NeMo-RL's batch layout: `input_ids`, `token_mask`, `advantages`, `prev_logprobs`,
    `generation_logprobs` and (when beta > 0) `reference_policy_logprobs` are [B, S] aligned with input_ids
    (position t concerns token t, so they are sliced [:, 1:] to meet the next-token log-probs), `sample_mask` is
    [B]. The logits may be vocabulary-parallel (recipes.posttrain.vocab_parallel).

    The metrics are those of NeMo-RL's `ClippedPGLossFn` (v0.5.0), which `grpo_train` logs, and some of which
    it reads by name after every step (`gen_kl_error`, `token_mult_prob_error`; tests/nemorl runs that loop).
    They are normalised by the global counts, so NeMo-RL's sum over micro-batches (the `np.sum` over
    `all_mb_metrics`; min/max for the `_min`/`_max` keys, whose empty value is inf as there) gives whole-batch
    values. The mismatch metrics compare the generation's log-probs with the trainer's before the update:
    `token_mult_prob_error` the mean exp|difference| (1 when vLLM and the trainer agree), `gen_kl_error`
    KL(gen || train) and `policy_kl_error` KL(train || gen) by the k3 estimator, `js_divergence_error` their
    Jensen-Shannon divergence (k3 against the mixture)."""

    def __init__(self, config: DrGRPOLossConfig):
        self.config = config
        self.loss_type = config.loss_type

    def __call__(
        self,
        next_token_logits: torch.Tensor,
        data: Mapping[str, torch.Tensor],
        global_valid_seqs: torch.Tensor,
        global_valid_toks: torch.Tensor,
        vocab_parallel_rank: int | None = None,
        vocab_parallel_group: Any = None,
        context_parallel_group: Any = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        keys: tuple[str, ...] = (
            "input_ids",
            "token_mask",
            "sample_mask",
            "advantages",
            "prev_logprobs",
            "generation_logprobs",
        )
        if self.config.reference_policy_kl_penalty:
            keys += ("reference_policy_logprobs",)
        require_keys(data, keys, "DrGRPOLossFn")

        logprobs = next_token_logprobs(
            next_token_logits, data["input_ids"], vocab_parallel_rank, vocab_parallel_group, context_parallel_group
        )
        device = logprobs.device
        sample_mask = data["sample_mask"].to(device, torch.float32)
        mask = data["token_mask"][:, 1:].to(device, torch.float32) * sample_mask.unsqueeze(-1)
        reference = data.get("reference_policy_logprobs")
        prev_logprobs = data["prev_logprobs"][:, 1:].to(device, torch.float32)
        generation_logprobs = data["generation_logprobs"][:, 1:].to(device, torch.float32)
        output = clipped_policy_loss(
            logprobs,
            prev_logprobs,
            data["advantages"][:, 1:].to(device, torch.float32),
            mask,
            self.config,
            reference_logprobs=None if reference is None else reference[:, 1:].to(device, torch.float32),
            num_sequences=global_valid_seqs,
            num_tokens=global_valid_toks,
        )
        with torch.no_grad():
            mismatch = mismatch_metrics(generation_logprobs, prev_logprobs, logprobs.detach(), mask, global_valid_toks)
            ratio = torch.exp(logprobs.detach() - prev_logprobs)
            ratio_clamped = ratio.clamp(1.0 - self.config.ratio_clip_min, 1.0 + self.config.ratio_clip_max)
        return output.loss, {
            "loss": output.loss.item(),
            "policy_loss": output.policy_loss.item(),
            "kl_penalty": output.kl_penalty.item(),
            "clip_fraction": output.clip_fraction,
            "probs_ratio": output.mean_ratio,
            "probs_ratio_clamped": float((ratio_clamped * mask).sum() / global_valid_toks),
            **_masked_extremes("probs_ratio", ratio, mask),
            **_masked_extremes("probs_ratio_clamped", ratio_clamped, mask),
            **mismatch,
            "num_valid_samples": sample_mask.sum().item(),
        }


def _masked_extremes(name: str, values: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """`<name>_min` / `<name>_max` over the masked-in tokens; inf / -inf when there are none (NeMo-RL's reduction
    over micro-batches skips those)."""
    picked = values[mask.bool()]
    if picked.numel() == 0:
        return {f"{name}_min": float("inf"), f"{name}_max": float("-inf")}
    return {f"{name}_min": picked.min().item(), f"{name}_max": picked.max().item()}


def mismatch_metrics(
    generation_logprobs: torch.Tensor,
    prev_logprobs: torch.Tensor,
    logprobs: torch.Tensor,
    mask: torch.Tensor,
    num_tokens: torch.Tensor | float,
) -> dict[str, float]:
    """How far the generation engine's token log-probs are from the trainer's, token means over `num_tokens`."""

    def mean(per_token: torch.Tensor) -> float:
        return float((per_token * mask).sum() / num_tokens)

    log_mixture = torch.log(0.5 * torch.exp(prev_logprobs) + 0.5 * torch.exp(generation_logprobs))
    return {
        "token_mult_prob_error": mean(torch.exp((generation_logprobs - prev_logprobs).abs())),
        "gen_kl_error": mean(k3_kl(generation_logprobs, prev_logprobs)),
        "policy_kl_error": mean(k3_kl(prev_logprobs, generation_logprobs)),
        "js_divergence_error": mean(
            0.5 * k3_kl(log_mixture, prev_logprobs) + 0.5 * k3_kl(log_mixture, generation_logprobs)
        ),
        # E_gen[pi_train / pi_gen], 1 on policy; and the entropy estimate -E_gen[(pi / pi_gen) log pi].
        "sampling_importance_ratio": mean(torch.exp(prev_logprobs - generation_logprobs)),
        "approx_entropy": mean(-torch.exp(logprobs - generation_logprobs) * logprobs),
    }
