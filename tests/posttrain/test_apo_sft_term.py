"""APO / DPO with `sft_loss_weight` > 0: the SFT term is the chosen answer's negative log-likelihood, added.

Worked by hand: all-zero logits over a vocabulary of 2 make every token log-prob log(1/2), and a reference equal to
the policy makes both rewards 0, so apo_zero's pair loss is (1 - sigmoid(0)) + sigmoid(0) = 1 and sigmoid's is log 2.
Each chosen answer has 2 response tokens: its NLL is 2 log 2 (summed) or log 2 (averaged).
"""

from __future__ import annotations

import math

import pytest
import torch

from recipes.posttrain.preference_loss import PreferenceLossConfig, PreferenceLossFn

LOG2 = math.log(2)


def _pairs():
    """Two pairs (rows chosen, rejected, chosen, rejected); the second pair is masked out by sample_mask."""
    logits = torch.zeros(4, 3, 2, requires_grad=True)
    data = {
        "input_ids": torch.tensor([[0, 1, 1], [0, 0, 0], [1, 0, 1], [1, 1, 0]]),
        "token_mask": torch.tensor([[0, 1, 1]] * 4),
        "sample_mask": torch.tensor([1.0, 1.0, 0.0, 0.0]),
        "reference_policy_logprobs": torch.full((4, 3), -LOG2),
    }
    return logits, data


@pytest.mark.parametrize(
    "objective, average, expected",
    [
        ("apo_zero", False, 1.0 + 0.5 * 2 * LOG2),  # 1 + weight x summed NLL
        ("apo_zero", True, 1.0 + 0.5 * LOG2),  # averaged over the 2 tokens
        ("sigmoid", False, LOG2 + 0.5 * 2 * LOG2),  # -log sigmoid(0) = log 2
    ],
)
def test_sft_term_adds_the_chosen_answers_nll(objective, average, expected):
    logits, data = _pairs()
    config = PreferenceLossConfig(objective=objective, beta=0.1, sft_loss_weight=0.5, sft_average_log_probs=average)
    # One valid pair = two valid rows (NeMo-RL counts rows).
    loss, metrics = PreferenceLossFn(config)(logits, data, global_valid_seqs=torch.tensor(2.0), global_valid_toks=None)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert metrics["sft_loss"] == pytest.approx(LOG2 if average else 2 * LOG2, rel=1e-6)


def test_sft_term_raises_the_chosen_tokens_probability():
    logits, data = _pairs()
    config = PreferenceLossConfig(objective="apo_zero", beta=0.1, sft_loss_weight=1.0)
    without = PreferenceLossFn(PreferenceLossConfig(objective="apo_zero", beta=0.1))
    loss, _ = PreferenceLossFn(config)(logits, data, torch.tensor(2.0), None)
    loss.backward()
    with_sft = logits.grad.clone()
    logits.grad = None
    without(logits, data, torch.tensor(2.0), None)[0].backward()
    # Row 0 predicts token 1 at position 0: the SFT part of d loss / d logit is -(1 - p) = -0.5 (weight 1), so
    # gradient descent raises the chosen token's logit.
    assert (with_sft - logits.grad)[0, 0, 1].item() == pytest.approx(-0.5, abs=1e-6)
    assert (with_sft - logits.grad)[0, 0, 0].item() == pytest.approx(0.5, abs=1e-6)
    # The rejected row and the masked pair get nothing from the SFT term.
    assert (with_sft - logits.grad)[1:].abs().sum() == 0
