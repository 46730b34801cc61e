"""Dr. GRPO's loss class must leave out the samples NeMo-RL masks with `sample_mask` (zero-advantage groups, padding).

Values are worked by hand: with all-zero logits over a vocabulary of 2 every token log-prob is log(1/2), so with
prev_logprobs = log(1/2) the ratio is exactly 1 and each masked-in token contributes -A to the token sum.
"""

from __future__ import annotations

import math

import pytest
import torch

from recipes.posttrain.rl_loss import DrGRPOLossConfig, DrGRPOLossFn, clipped_policy_loss

HALF = math.log(0.5)


def _batch(prev_shift_second: float = 0.0, reference_shift_second: float = 0.0):
    """Two responses of two tokens each (positions 1 and 2 of 3); sample 1 is masked out by sample_mask."""
    logits = torch.zeros(2, 3, 2, requires_grad=True)
    prev = torch.full((2, 3), HALF)
    prev[1] += prev_shift_second
    reference = torch.full((2, 3), HALF)
    reference[1] += reference_shift_second
    data = {
        "input_ids": torch.tensor([[0, 1, 0], [0, 0, 1]]),
        "token_mask": torch.tensor([[0, 1, 1], [0, 1, 1]]),
        "sample_mask": torch.tensor([1.0, 0.0]),
        "advantages": torch.tensor([[1.0, 1.0, 1.0], [-3.0, -3.0, -3.0]]),
        "prev_logprobs": prev,
        "generation_logprobs": prev.clone(),  # what the generator saw: the same policy here
        "reference_policy_logprobs": reference,
    }
    return logits, data


def test_dr_grpo_class_drops_samples_whose_sample_mask_is_zero():
    logits, data = _batch()
    loss_fn = DrGRPOLossFn(DrGRPOLossConfig.dr_grpo(max_generation_length=4))
    # NeMo-RL's global counts exclude the masked sample: 1 valid sequence, 2 valid tokens.
    loss, _ = loss_fn(logits, data, global_valid_seqs=torch.tensor(1.0), global_valid_toks=torch.tensor(2.0))
    # Sample 0 only: -(A=1 on 2 tokens) / (L_max=4 x 1 sequence) = -0.5. With sample 1 counted it would be
    # -(2 x 1 + 2 x -3) / 4 = +1.0.
    assert loss.item() == pytest.approx(-0.5, abs=1e-6)
    loss.backward()
    assert logits.grad[1].abs().sum() == 0
    assert logits.grad[0, :2].abs().sum() > 0


def test_masked_sample_is_out_of_the_kl_penalty_and_the_ratio_statistics():
    # Sample 1's old policy is e times less likely (ratio e, clipped at 1.2) and its reference differs by 1 nat:
    # neither may reach the loss or the statistics while it is masked.
    logits, data = _batch(prev_shift_second=-1.0, reference_shift_second=1.0)
    loss_fn = DrGRPOLossFn(DrGRPOLossConfig.dr_grpo(4, reference_policy_kl_penalty=0.1))
    loss, _ = loss_fn(logits, data, torch.tensor(1.0), torch.tensor(2.0))
    # k3 KL of sample 0 is exp(0) - 0 - 1 = 0, so the loss is the policy term alone.
    assert loss.item() == pytest.approx(-0.5, abs=1e-6)

    logprobs = torch.full((2, 2), HALF)
    mask = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    out = clipped_policy_loss(
        logprobs, data["prev_logprobs"][:, 1:], torch.tensor([1.0, -3.0]), mask, DrGRPOLossConfig.dr_grpo(4)
    )
    assert out.mean_ratio == pytest.approx(1.0) and out.clip_fraction == 0.0
    # The same rows with sample 1 masked in: for A = -3 the unclipped loss 3e exceeds the clipped 3 x 1.2, and the
    # pessimistic max keeps the unclipped one.
    both = clipped_policy_loss(
        logprobs, data["prev_logprobs"][:, 1:], torch.tensor([1.0, -3.0]), torch.ones(2, 2), DrGRPOLossConfig.dr_grpo(4)
    )
    assert both.mean_ratio == pytest.approx((2 * 1.0 + 2 * math.e) / 4, rel=1e-6)
    # per token: sample 0 gives -1, sample 1 gives max(3e, 3 x 1.2) = 3e; (2 x -1 + 2 x 3e) / (4 x 2 sequences)
    assert both.loss.item() == pytest.approx((-2 + 6 * math.e) / 8, rel=1e-6)
