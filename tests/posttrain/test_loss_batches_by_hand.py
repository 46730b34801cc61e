"""The Dr. GRPO and preference loss classes on batches worked by hand, shaped so that a wrong slice or stride shows:
a response longer than the tests' usual two tokens with a different reference on every position, and three
preference pairs (one tied, one masked out) instead of one.

All-zero logits over a vocabulary of 2 give every token the log-prob -log 2, so every expectation below is a sum of
offsets written next to it."""

from __future__ import annotations

import math

import pytest
import torch

from recipes.posttrain.preference_loss import PreferenceLossConfig, PreferenceLossFn
from recipes.posttrain.rl_loss import DrGRPOLossConfig, DrGRPOLossFn

LOG2 = math.log(2)
WILD = 40.0  # on positions the masks leave out: any use of them moves the loss by far more than the tolerance


def _k3(delta: float) -> float:
    """Schulman's k3 with log(pi_ref / pi) = delta (http://joschu.net/blog/kl-approx.html)."""
    return math.exp(delta) - delta - 1


def test_dr_grpo_kl_reads_each_positions_reference_and_names_its_metrics():
    # One response of four tokens (positions 1..4 of 5), on-policy (ratio 1), advantage 1 on every token.
    # reference_policy_logprobs[t] concerns token t: -log 2 + delta_t, a different delta on each position.
    deltas = [WILD, 0.1, -0.2, 0.3, -0.4]
    data = {
        "input_ids": torch.tensor([[0, 1, 0, 1, 1]]),
        "token_mask": torch.tensor([[0, 1, 1, 1, 1]]),
        "sample_mask": torch.tensor([1.0]),
        "advantages": torch.ones(1, 5),
        "prev_logprobs": torch.full((1, 5), -LOG2),
        "generation_logprobs": torch.full((1, 5), -LOG2),
        "reference_policy_logprobs": torch.tensor([[-LOG2 + d for d in deltas]]),
    }
    beta, max_length = 0.5, 4
    loss_fn = DrGRPOLossFn(DrGRPOLossConfig.dr_grpo(max_length, reference_policy_kl_penalty=beta))
    loss, metrics = loss_fn(torch.zeros(1, 5, 2), data, torch.tensor(1.0), torch.tensor(4.0))
    # Dr. GRPO divides token sums by max_generation_length x sequences (Liu et al. 2025, "Understanding
    # R1-Zero-Like Training"): 4 x 1.
    policy = -(4 * 1.0) / (max_length * 1)
    kl = beta * sum(_k3(d) for d in deltas[1:]) / (max_length * 1)
    assert loss.item() == pytest.approx(policy + kl, rel=1e-6)
    assert metrics["loss"] == pytest.approx(policy + kl, rel=1e-6)
    assert metrics["policy_loss"] == pytest.approx(policy, rel=1e-6)
    assert metrics["kl_penalty"] == pytest.approx(kl, rel=1e-6)
    # vLLM and the trainer agree: exp|0| on each of the 4 tokens over 4 tokens.
    assert metrics["token_mult_prob_error"] == pytest.approx(1.0)
    assert metrics["probs_ratio"] == pytest.approx(1.0) and metrics["clip_fraction"] == 0.0
    assert metrics["num_valid_samples"] == 1.0


def _three_pairs():
    """Rows (0, 1), (2, 3), (4, 5) are pairs; position t of the reference concerns token t+1 (NeMo-RL's DPO layout).
    Pair 0: chosen 3 tokens at reference offset -0.1 each (policy - reference = +0.3), rejected 1 token at +0.2
    (-0.2). Pair 1: two identical rows of 2 tokens at +0.05 (-0.1 each): a tie. Pair 2 is masked out."""
    masks = [[0, 1, 1, 1], [0, 1, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 1, 1], [0, 1, 1, 1]]
    offsets = [
        [-0.1, -0.1, -0.1, WILD],
        [0.2, WILD, WILD, WILD],
        [0.05, 0.05, WILD, WILD],
        [0.05, 0.05, WILD, WILD],
        [WILD] * 4,
        [-WILD] * 4,
    ]
    data = {
        "input_ids": torch.tensor([[0, 1, 0, 1], [0, 0, 1, 1], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]]),
        "token_mask": torch.tensor(masks),
        "sample_mask": torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 0.0]),
        "reference_policy_logprobs": torch.tensor([[-LOG2 + o for o in row] for row in offsets]),
    }
    return torch.zeros(6, 4, 2, requires_grad=True), data


def test_preference_loss_over_three_pairs_with_a_tie_and_a_masked_pair():
    logits, data = _three_pairs()
    config = PreferenceLossConfig(objective="sigmoid", beta=1.0, sft_loss_weight=0.5)
    # NeMo-RL counts valid sequences (rows): 4, i.e. 2 pairs.
    loss, metrics = PreferenceLossFn(config)(logits, data, torch.tensor(4.0), None)
    # DPO: -log sigmoid(r_c - r_r) per pair (Rafailov et al. 2023, eq. 7): 0.3 - (-0.2) = 0.5, then the tie 0.
    preference = (math.log(1 + math.exp(-0.5)) + LOG2) / 2
    sft = (3 * LOG2 + 2 * LOG2) / 2  # the chosen rows' summed NLL: 3 and 2 tokens of log 2
    assert loss.item() == pytest.approx(preference + 0.5 * sft, rel=1e-6)
    assert metrics["loss"] == pytest.approx(preference + 0.5 * sft, rel=1e-6)
    assert metrics["preference_loss"] == pytest.approx(preference, rel=1e-6)
    assert metrics["sft_loss"] == pytest.approx(sft, rel=1e-6)
    assert metrics["rewards_chosen_mean"] == pytest.approx((0.3 - 0.1) / 2, abs=1e-6)
    assert metrics["rewards_rejected_mean"] == pytest.approx((-0.2 - 0.1) / 2, abs=1e-6)
    assert metrics["accuracy"] == 0.5  # the tie is not a win
    assert metrics["num_valid_samples"] == 2.0
    loss.backward()
    assert not logits.grad[4:].any()  # the masked pair trains nothing


@pytest.mark.parametrize(
    "key", ["sample_mask", "token_mask", "advantages", "prev_logprobs", "reference_policy_logprobs"]
)
def test_dr_grpo_loss_stays_float32_whatever_dtype_a_batch_field_arrives_in(key):
    # Numpy-born fields (advantages from rewards, masks) arrive as float64; the loss and the per-token terms stay in
    # the float32 of the log-probs rather than silently doubling in size and precision.
    logits, data = (
        torch.zeros(2, 4, 2),
        {
            "input_ids": torch.tensor([[0, 1, 0, 1], [1, 1, 0, 0]]),
            "token_mask": torch.tensor([[0, 1, 1, 1]] * 2),
            "sample_mask": torch.tensor([1.0, 1.0]),
            "advantages": torch.tensor([[1.0] * 4, [-0.5] * 4]),
            "prev_logprobs": torch.full((2, 4), -LOG2 - 0.1),
            "generation_logprobs": torch.full((2, 4), -LOG2),
            "reference_policy_logprobs": torch.full((2, 4), -LOG2 + 0.2),
        },
    )
    loss_fn = DrGRPOLossFn(DrGRPOLossConfig.dr_grpo(4, reference_policy_kl_penalty=0.1))
    expected, _ = loss_fn(logits, data, torch.tensor(2.0), torch.tensor(6.0))
    loss, _ = loss_fn(logits, {**data, key: data[key].double()}, torch.tensor(2.0), torch.tensor(6.0))
    assert loss.dtype == torch.float32 and loss.item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("key", ["sample_mask", "token_mask", "reference_policy_logprobs"])
def test_preference_loss_stays_float32_whatever_dtype_a_batch_field_arrives_in(key):
    logits, data = _three_pairs()
    loss_fn = PreferenceLossFn(PreferenceLossConfig(objective="apo_zero", beta=0.5, sft_loss_weight=0.5))
    expected, _ = loss_fn(logits, data, torch.tensor(4.0), None)
    loss, _ = loss_fn(logits, {**data, key: data[key].double()}, torch.tensor(4.0), None)
    assert loss.dtype == torch.float32 and loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_dr_grpo_generation_mismatch_metrics_by_hand():
    # Four response tokens; the generation engine's log-prob differs from the trainer's (prev) by e_t on each:
    # generation = -log 2 + e_t, prev = -log 2. NeMo-RL's ClippedPGLossFn reports gen_kl_error = k3 with
    # log(prev / gen) = -e_t, policy_kl_error = k3 with log(gen / prev) = e_t, sampling_importance_ratio =
    # exp(prev - gen); grpo_train prints gen_kl_error after every step. Token means over global_valid_toks = 4.
    errors = [WILD, 0.1, -0.2, 0.3, -0.4]
    data = {
        "input_ids": torch.tensor([[0, 1, 0, 1, 1]]),
        "token_mask": torch.tensor([[0, 1, 1, 1, 1]]),
        "sample_mask": torch.tensor([1.0]),
        "advantages": torch.ones(1, 5),
        "prev_logprobs": torch.full((1, 5), -LOG2),
        "generation_logprobs": torch.tensor([[-LOG2 + e for e in errors]]),
    }
    _, metrics = DrGRPOLossFn(DrGRPOLossConfig.dr_grpo(4))(
        torch.zeros(1, 5, 2), data, torch.tensor(1.0), torch.tensor(4.0)
    )
    used = errors[1:]
    assert metrics["gen_kl_error"] == pytest.approx(sum(_k3(-e) for e in used) / 4, rel=1e-5)
    assert metrics["policy_kl_error"] == pytest.approx(sum(_k3(e) for e in used) / 4, rel=1e-5)
    assert metrics["token_mult_prob_error"] == pytest.approx(sum(math.exp(abs(e)) for e in used) / 4, rel=1e-5)
    assert metrics["sampling_importance_ratio"] == pytest.approx(sum(math.exp(-e) for e in used) / 4, rel=1e-5)
    # The trainer's distribution is uniform (-log 2): the entropy estimate is E_gen[(pi / pi_gen) log 2].
    assert metrics["approx_entropy"] == pytest.approx(sum(math.exp(-e) * LOG2 for e in used) / 4, rel=1e-5)

    # JS divergence of two distributions over the sampled token: k3 of each against their mixture.
    def js(e: float) -> float:
        p, g = 0.5, 0.5 * math.exp(e)
        m = 0.5 * (p + g)
        return 0.5 * _k3(math.log(p / m)) + 0.5 * _k3(math.log(g / m))

    assert metrics["js_divergence_error"] == pytest.approx(sum(js(e) for e in used) / 4, rel=1e-5)
    # On-policy ratio 1 on every token: min = max = clamped = 1.
    for key in (
        "probs_ratio_min",
        "probs_ratio_max",
        "probs_ratio_clamped_min",
        "probs_ratio_clamped_max",
        "probs_ratio_clamped",
    ):
        assert metrics[key] == pytest.approx(1.0), key
