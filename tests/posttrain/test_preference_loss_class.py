"""The NeMo-RL-shaped preference loss class on one hand-worked pair: which tokens count (token_mask, the reference
rolled left by one), summed or averaged sequence log-probs, and the rewards it reports.

All-zero logits over a vocabulary of 2 give every token log-prob -log 2. The chosen row has 2 response tokens, the
rejected row 1; the reference is 0.2 and 0.8 nat below the policy on the chosen tokens and 0.25 above it on the
rejected one, with a wild value on every position the mask leaves out. With beta 1: r_c = 2 x 0.5 = 1, r_r = -0.25
(summed); r_c = 0.5, r_r = -0.25 (averaged)."""

from __future__ import annotations

import math

import pytest
import torch

from recipes.posttrain.preference_loss import PreferenceLossConfig, PreferenceLossFn, sequence_logprobs

LOG2 = math.log(2)
WILD = -50.0


def _pair():
    logits = torch.zeros(2, 3, 2, requires_grad=True)
    # reference position t holds the log-prob of token t+1; positions past the response (and the last) are WILD
    reference = torch.tensor([[-LOG2 - 0.2, -LOG2 - 0.8, WILD], [-LOG2 + 0.25, WILD, WILD]])
    data = {
        "input_ids": torch.tensor([[0, 1, 0], [0, 0, 1]]),
        "token_mask": torch.tensor([[0, 1, 1], [0, 1, 0]]),
        "sample_mask": torch.tensor([1.0, 1.0]),
        "reference_policy_logprobs": reference,
    }
    return logits, data


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize(
    "objective, average, expected",
    [
        ("sigmoid", False, math.log(1 + math.exp(-1.25))),  # -log sigmoid(r_c - r_r), r_c - r_r = 1.25
        ("sigmoid", True, math.log(1 + math.exp(-0.75))),  # 0.5 + 0.25
        ("apo_zero", False, (1 - _sigmoid(1.0)) + _sigmoid(-0.25)),
        ("apo_down", False, _sigmoid(1.0) + (1 - _sigmoid(1.25))),
    ],
)
def test_pair_loss_and_rewards(objective, average, expected):
    logits, data = _pair()
    config = PreferenceLossConfig(objective=objective, beta=1.0, preference_average_log_probs=average)
    loss, metrics = PreferenceLossFn(config)(logits, data, global_valid_seqs=torch.tensor(2.0), global_valid_toks=None)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert metrics["preference_loss"] == pytest.approx(expected, rel=1e-6)
    assert metrics["rewards_chosen_mean"] == pytest.approx(0.5 if average else 1.0, rel=1e-6)
    assert metrics["rewards_rejected_mean"] == pytest.approx(-0.25, rel=1e-6)
    assert metrics["accuracy"] == 1.0 and metrics["sft_loss"] == 0.0
    loss.backward()
    assert logits.grad[:, 2].abs().sum() == 0  # the last position predicts nothing
    assert logits.grad[1, 1].abs().sum() == 0  # the rejected row's masked-out token


def test_beta_scales_the_rewards_and_must_be_positive():
    logits, data = _pair()
    _, metrics = PreferenceLossFn(PreferenceLossConfig(objective="sigmoid", beta=0.1))(
        logits, data, torch.tensor(2.0), None
    )
    assert metrics["rewards_chosen_mean"] == pytest.approx(0.1, rel=1e-6)
    with pytest.raises(ValueError, match="beta=0"):
        PreferenceLossConfig(beta=0)


def test_sequence_logprobs_sum_or_mean_over_the_mask():
    token_logprobs = torch.tensor([[-1.0, -2.0, -4.0], [-3.0, -5.0, -7.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    assert sequence_logprobs(token_logprobs, mask).tolist() == [-3.0, -3.0]
    assert sequence_logprobs(token_logprobs, mask, average=True).tolist() == [-1.5, -3.0]
    # a row with no token averages to 0, not NaN
    assert sequence_logprobs(token_logprobs, torch.zeros(2, 3), average=True).tolist() == [0.0, 0.0]


def test_two_pairs_average_and_the_errors_name_the_loss():
    logits, data = _pair()
    # A second pair: chosen reference 0.3 and 0.1 below (r_c = 0.4), rejected 0.6 above (r_r = -0.6).
    second = torch.tensor([[-LOG2 - 0.3, -LOG2 - 0.1, WILD], [-LOG2 + 0.6, WILD, WILD]])
    logits4 = torch.zeros(4, 3, 2)
    data4 = {key: torch.cat([value, value]) for key, value in data.items()}
    data4["reference_policy_logprobs"] = torch.cat([data["reference_policy_logprobs"], second])
    config = PreferenceLossConfig(objective="sigmoid", beta=1.0, sft_loss_weight=1.0)
    loss, metrics = PreferenceLossFn(config)(logits4, data4, torch.tensor(4.0), None)
    preference = (math.log(1 + math.exp(-1.25)) + math.log(1 + math.exp(-1.0))) / 2
    assert metrics["preference_loss"] == pytest.approx(preference, rel=1e-6)
    assert metrics["sft_loss"] == pytest.approx(2 * LOG2, rel=1e-6)  # both chosen answers: 2 tokens of log 2
    assert loss.item() == pytest.approx(preference + 2 * LOG2, rel=1e-6)
    assert metrics["rewards_chosen_mean"] == pytest.approx(0.7, rel=1e-6)
    assert metrics["rewards_rejected_mean"] == pytest.approx(-0.425, rel=1e-6)
    assert metrics["accuracy"] == 1.0 and metrics["num_valid_samples"] == 2
    # The second pair masked out (NeMo-RL then counts 2 valid rows): only the first pair, over 1 pair.
    data4["sample_mask"] = torch.tensor([1.0, 1.0, 0.0, 0.0])
    _, masked = PreferenceLossFn(config)(logits4, data4, torch.tensor(2.0), None)
    assert masked["preference_loss"] == pytest.approx(math.log(1 + math.exp(-1.25)), rel=1e-6)
    assert masked["num_valid_samples"] == 1
    assert masked["accuracy"] == 1.0 and masked["rewards_chosen_mean"] == pytest.approx(1.0, rel=1e-6)
    assert masked["rewards_rejected_mean"] == pytest.approx(-0.25, rel=1e-6)
    del data4["token_mask"]
    with pytest.raises(KeyError, match=r"PreferenceLossFn: the batch lacks \['token_mask'\]"):
        PreferenceLossFn(config)(logits4, data4, torch.tensor(4.0), None)
    # Vocabulary-parallel logits are taken (tests/posttrain/test_vocab_parallel.py); a group needs its rank.
    with pytest.raises(ValueError, match="vocab_parallel_group is set but vocab_parallel_rank is None"):
        PreferenceLossFn(config)(logits, data, torch.tensor(2.0), None, vocab_parallel_group=object())
