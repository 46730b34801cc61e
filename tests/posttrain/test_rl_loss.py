"""GRPO / Dr. GRPO loss on tiny tensors whose values are worked out by hand in each test."""

from __future__ import annotations

import math

import pytest
import torch

from recipes.posttrain.nemo_rl_compat import LossType
from recipes.posttrain.rl_loss import (
    DrGRPOLossConfig,
    DrGRPOLossFn,
    clipped_policy_loss,
    k3_kl,
)

# One prompt, two responses: a short correct one (2 tokens, reward 1) and a long wrong one (4 tokens, reward 0).
# Their advantages, as NeMo-RL's trainer computes them before the loss: the group mean is 0.5, so Dr. GRPO's are
# R - mean = +-0.5; GRPO's divide by the unbiased std of [1, 0], sqrt(0.5): +-0.5 / 0.7071 = +-0.7071.
DR_GRPO_ADVANTAGES = torch.tensor([0.5, -0.5])
GRPO_ADVANTAGES = torch.tensor([math.sqrt(0.5), -math.sqrt(0.5)])
MASK = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])


def _on_policy(advantages: torch.Tensor, config: DrGRPOLossConfig):
    logprobs = torch.full(MASK.shape, -1.0, requires_grad=True)
    output = clipped_policy_loss(logprobs, logprobs.detach(), advantages, MASK, config)
    output.loss.backward()
    return output, logprobs.grad


def test_dr_grpo_sums_tokens_over_a_constant():
    # ratio = 1 on-policy, per-token loss = -A: response 0: 2 * -0.5 = -1; response 1: 4 * 0.5 = 2.
    # Dr. GRPO: (-1 + 2) / (L_max = 4 * G = 2) = 0.125; every token's gradient is -A / 8 = -+0.0625.
    output, grad = _on_policy(DR_GRPO_ADVANTAGES, DrGRPOLossConfig.dr_grpo(max_generation_length=4))
    assert output.loss.item() == pytest.approx(0.125)
    torch.testing.assert_close(grad, torch.tensor([[-0.0625, -0.0625, 0, 0], [0.0625] * 4]))


def test_grpo_length_normalises_each_response():
    # GRPO: A = +-0.7071; response means -0.7071 and +0.7071 -> loss 0.
    # Gradients carry the length bias: short response -A/(2*2) = -0.1768, long one -A/(4*2) = +0.0884.
    output, grad = _on_policy(GRPO_ADVANTAGES, DrGRPOLossConfig(aggregation="sequence_mean"))
    a = math.sqrt(0.5)
    assert output.loss.item() == pytest.approx(0.0, abs=1e-6)
    torch.testing.assert_close(grad, torch.tensor([[-a / 4, -a / 4, 0, 0], [a / 8] * 4]))


def test_token_mean_divides_by_token_count():
    # (-1 + 2) / 6 tokens
    output, _ = _on_policy(DR_GRPO_ADVANTAGES, DrGRPOLossConfig(aggregation="token_mean"))
    assert output.loss.item() == pytest.approx(1 / 6)


@pytest.mark.parametrize(
    ("ratio", "advantage", "expected_loss", "expected_grad", "clip_high"),
    [
        (1.5, 1.0, -1.2, 0.0, 0.2),  # max(-1.5, -1.2): clipped at 1 + 0.2, no gradient
        (1.5, -1.0, 1.5, 1.5, 0.2),  # max(1.5, 1.2): unclipped, d(-A r)/dlogp = -A r = 1.5
        (0.5, 1.0, -0.5, -0.5, 0.2),  # max(-0.5, -0.8): unclipped, gradient -A r = -0.5
        (0.5, -1.0, 0.8, 0.0, 0.2),  # max(0.5, 0.8): clipped at 1 - 0.2
        (1.25, 1.0, -1.25, -1.25, 0.28),  # clip-higher eps 0.28 lets 1.25 through: max(-1.25, -1.28)
    ],
)
def test_ratio_clipping(ratio, advantage, expected_loss, expected_grad, clip_high):
    config = DrGRPOLossConfig(aggregation="token_mean", ratio_clip_min=0.2, ratio_clip_max=clip_high)
    logprobs = torch.tensor([[math.log(ratio)]], requires_grad=True)
    output = clipped_policy_loss(logprobs, torch.zeros(1, 1), torch.tensor([advantage]), torch.ones(1, 1), config)
    output.loss.backward()
    assert output.loss.item() == pytest.approx(expected_loss)
    assert logprobs.grad.item() == pytest.approx(expected_grad)
    assert output.clip_fraction == (1.0 if expected_grad == 0.0 else 0.0)


def test_kl_is_off_by_default_and_k3_when_on():
    logprobs = torch.log(torch.tensor([[0.5]]))
    reference = torch.log(torch.tensor([[0.25]]))
    advantages, mask = torch.tensor([1.0]), torch.ones(1, 1)
    plain = clipped_policy_loss(logprobs, logprobs, advantages, mask, DrGRPOLossConfig.dr_grpo(2), reference)
    assert plain.kl_penalty.item() == 0.0 and plain.loss.item() == pytest.approx(-1 / 2)  # -A*1 / L_max 2
    # k3: log(ref/pi) = log 0.5; 0.5 - log 0.5 - 1 = 0.19315; beta 0.1, over L_max 2 -> 0.0096574
    k3 = 0.5 - math.log(0.5) - 1
    assert k3_kl(logprobs, reference).item() == pytest.approx(k3)
    config = DrGRPOLossConfig.dr_grpo(2, reference_policy_kl_penalty=0.1)
    with_kl = clipped_policy_loss(logprobs, logprobs, advantages, mask, config, reference)
    assert with_kl.kl_penalty.item() == pytest.approx(0.1 * k3 / 2)
    assert with_kl.loss.item() == pytest.approx(-0.5 + 0.1 * k3 / 2)
    with pytest.raises(ValueError, match="reference_logprobs"):
        clipped_policy_loss(logprobs, logprobs, advantages, mask, config)


def test_config_refuses_constant_normaliser_without_length():
    with pytest.raises(ValueError, match="max_generation_length"):
        DrGRPOLossConfig()
    assert DrGRPOLossConfig.dr_grpo(8).loss_type == LossType.SEQUENCE_LEVEL
    assert DrGRPOLossConfig(aggregation="token_mean").loss_type == LossType.TOKEN_LEVEL


def _nemo_rl_batch(seed: int = 0):
    """A NeMo-RL-shaped batch: 4 rows of 6 tokens (prompt 2 + response up to 4), vocab 11."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, 11, (4, 6), generator=generator)
    token_mask = torch.tensor([[0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 1, 0], [0, 0, 1, 0, 0, 0]])
    advantages = torch.tensor([0.5, -0.5, -0.5, 0.5])  # rewards 1, 0 | 0, 1 in two groups, minus each group's mean
    prev_logprobs = -torch.rand(4, 6, generator=generator)
    logits = torch.randn(4, 6, 11, generator=generator, requires_grad=True)
    data = {
        "input_ids": input_ids,
        "token_mask": token_mask,
        "sample_mask": torch.ones(4),
        "advantages": advantages.unsqueeze(-1).expand(4, 6).clone(),
        "prev_logprobs": prev_logprobs,
        "generation_logprobs": prev_logprobs - 0.3 * torch.rand(4, 6, generator=generator),
    }
    return logits, data


def test_nemo_rl_shaped_class_matches_the_tensor_function_and_splits_over_microbatches():
    logits, data = _nemo_rl_batch()
    loss_fn = DrGRPOLossFn(DrGRPOLossConfig.dr_grpo(max_generation_length=4))
    loss, metrics = loss_fn(logits, data, global_valid_seqs=torch.tensor(4.0), global_valid_toks=torch.tensor(10.0))

    token_logprobs = torch.log_softmax(logits[:, :-1], -1).gather(-1, data["input_ids"][:, 1:, None]).squeeze(-1)
    direct = clipped_policy_loss(
        token_logprobs,
        data["prev_logprobs"][:, 1:],
        data["advantages"][:, 1],
        data["token_mask"][:, 1:].float(),
        loss_fn.config,
    )
    assert loss.item() == pytest.approx(direct.loss.item(), rel=1e-6)
    assert metrics["num_valid_samples"] == 4

    # NeMo-RL sums micro-batch losses computed with the global counts: that must equal the whole-batch loss.
    halves = [{key: value[rows] for key, value in data.items()} for rows in (slice(0, 2), slice(2, 4))]
    parts = [
        loss_fn(logits[rows], half, torch.tensor(4.0), torch.tensor(10.0))[0]
        for rows, half in zip((slice(0, 2), slice(2, 4)), halves)
    ]
    assert (parts[0] + parts[1]).item() == pytest.approx(loss.item(), rel=1e-6)

    loss.backward()
    assert logits.grad.abs().sum() > 0
    # only response positions get gradient: row 3's single response token is predicted by position 1
    assert logits.grad[3, 2:].abs().sum() == 0 and logits.grad[3, 1].abs().sum() > 0


def test_nemo_rl_shaped_class_names_missing_keys():
    logits, data = _nemo_rl_batch()
    loss_fn = DrGRPOLossFn(DrGRPOLossConfig.dr_grpo(4, reference_policy_kl_penalty=0.01))
    with pytest.raises(KeyError, match="reference_policy_logprobs"):
        loss_fn(logits, data, torch.tensor(4.0), torch.tensor(10.0))


def test_summed_microbatch_metrics_are_whole_batch_values():
    """NeMo-RL v0.5.0's GRPO step sums each loss metric over micro-batches (`nemo_rl/algorithms/grpo.py`, the
    `np.sum` branch after `all_mb_metrics`) and then reads `token_mult_prob_error`; so each micro-batch must report
    its token sum over the global token count. Expected values from the whole batch, by hand below."""
    logits, data = _nemo_rl_batch(seed=3)
    config = DrGRPOLossConfig.dr_grpo(max_generation_length=4, ratio_clip_min=0.1, ratio_clip_max=0.1)
    loss_fn = DrGRPOLossFn(config)
    # prev log-probs 0.05 off the policy's own, alternating sign: ratio e^0.05 or e^-0.05 on every token
    policy = torch.log_softmax(logits.detach()[:, :-1], -1).gather(-1, data["input_ids"][:, 1:, None]).squeeze(-1)
    offsets = torch.tensor([0.05, -0.05, 0.2, -0.2, 0.05]).expand(4, 5)
    data["prev_logprobs"][:, 1:] = policy - offsets
    data["generation_logprobs"] = data["prev_logprobs"].clone()
    data["generation_logprobs"][:, 1:] -= 0.1  # exp|0.1| on every token

    mask = data["token_mask"][:, 1:].bool()
    tokens = int(mask.sum())  # 10
    ratios = torch.exp(offsets)[mask]
    # clipped where the ratio leaves [0.9, 1.1] on the side the advantage pushes: |offset| 0.2 -> ratio 1.22 / 0.82
    advantage = data["advantages"][:, 1:].expand(4, 5)[mask]
    clipped = ((ratios > 1.1) & (advantage > 0)) | ((ratios < 0.9) & (advantage < 0))

    summed = {"probs_ratio": 0.0, "clip_fraction": 0.0, "token_mult_prob_error": 0.0}
    for row in range(4):  # one sequence per micro-batch
        part = {key: value[row : row + 1] for key, value in data.items()}
        _, metrics = loss_fn(logits[row : row + 1], part, torch.tensor(4.0), torch.tensor(float(tokens)))
        for key in summed:
            summed[key] += metrics[key]
    assert summed["probs_ratio"] == pytest.approx(ratios.mean().item(), rel=1e-5)
    assert summed["clip_fraction"] == pytest.approx(clipped.float().mean().item(), abs=1e-6)
    assert summed["token_mult_prob_error"] == pytest.approx(math.exp(0.1), rel=1e-5)
