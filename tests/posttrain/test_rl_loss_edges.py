"""Dr. GRPO / GRPO loss edges worked by hand: per-response means of one-token answers, sequences with no response
token, the clip fraction, and the batch checks of the NeMo-RL-shaped class."""

from __future__ import annotations

import math

import pytest
import torch

from recipes.posttrain.nemo_rl_compat import LossType
from recipes.posttrain.rl_loss import DrGRPOLossConfig, DrGRPOLossFn, clipped_policy_loss

HALF = math.log(0.5)


def test_shapes_are_checked_one_by_one():
    ones = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"must all be \[batch, tokens\]"):
        clipped_policy_loss(ones, ones, torch.ones(2), torch.ones(2, 4), DrGRPOLossConfig.dr_grpo(4))


def test_sequence_mean_of_one_token_answers_and_empty_rows():
    config = DrGRPOLossConfig(aggregation="sequence_mean")  # GRPO's
    logprobs = torch.full((3, 2), HALF)
    # Row 0 has one response token, row 1 two, row 2 none (e.g. a truncated prompt); ratio 1, so each token
    # contributes -A. Per response: -2/1 and -(1 + 1)/2; over the 2 rows with a token: (-2 - 1) / 2.
    mask = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    out = clipped_policy_loss(logprobs, logprobs, torch.tensor([2.0, 1.0, 5.0]), mask, config)
    assert out.loss.item() == pytest.approx(-1.5)
    # token_mean with a KL penalty: both terms over the 3 valid tokens; k3 KL of a reference 1 nat off is
    # e^1 - 1 - 1 = 0.71828 per token.
    kl_config = DrGRPOLossConfig(aggregation="token_mean", reference_policy_kl_penalty=0.5)
    out = clipped_policy_loss(
        logprobs, logprobs, torch.tensor([2.0, 1.0, 5.0]), mask, kl_config, reference_logprobs=logprobs + 1.0
    )
    assert out.policy_loss.item() == pytest.approx(-(2 + 1 + 1) / 3)
    assert out.kl_penalty.item() == pytest.approx(0.5 * (math.e - 2))


def test_clip_fraction_is_the_share_of_masked_in_tokens_on_the_clipped_branch():
    # Four tokens, A = 1, ratios e^0.5 = 1.65, 1, 1, 1: on the first the pessimistic max of the losses
    # (-1.2 > -1.65) takes the clipped ratio 1.2, so 1 of 4 tokens is clipped.
    logprobs = torch.tensor([[0.5, 0.0, 0.0, 0.0]])
    out = clipped_policy_loss(
        logprobs, torch.zeros(1, 4), torch.tensor([1.0]), torch.ones(1, 4), DrGRPOLossConfig.dr_grpo(4)
    )
    assert out.clip_fraction == pytest.approx(0.25)
    assert out.loss.item() == pytest.approx(-(1.2 + 3) / 4)


def test_the_class_checks_its_batch_and_reports_its_normaliser():
    assert DrGRPOLossConfig.dr_grpo(1).max_generation_length == 1  # one token is a valid length
    assert DrGRPOLossFn(DrGRPOLossConfig.dr_grpo(4)).loss_type == LossType.SEQUENCE_LEVEL
    assert DrGRPOLossFn(DrGRPOLossConfig(aggregation="token_mean")).loss_type == LossType.TOKEN_LEVEL
    loss_fn = DrGRPOLossFn(DrGRPOLossConfig.dr_grpo(4, reference_policy_kl_penalty=0.1))
    logits = torch.zeros(1, 3, 2)
    data = {
        "input_ids": torch.zeros(1, 3, dtype=torch.long),
        "token_mask": torch.ones(1, 3),
        "sample_mask": torch.ones(1),
        "prev_logprobs": torch.zeros(1, 3),
        "reference_policy_logprobs": torch.zeros(1, 3),
    }
    # With the KL on, the reference is required on top of the usual keys, not instead of them.
    with pytest.raises(KeyError, match=r"DrGRPOLossFn: the batch lacks \['advantages', 'generation_logprobs'\]"):
        loss_fn(logits, data, torch.tensor(1.0), torch.tensor(2.0))
    # Vocabulary-parallel logits are taken (tests/posttrain/test_vocab_parallel.py); a group needs its rank.
    data = {**data, "advantages": torch.zeros(1, 3), "generation_logprobs": torch.zeros(1, 3)}
    with pytest.raises(ValueError, match="vocab_parallel_group is set but vocab_parallel_rank is None"):
        loss_fn(logits, data, torch.tensor(1.0), torch.tensor(2.0), vocab_parallel_group=object())
