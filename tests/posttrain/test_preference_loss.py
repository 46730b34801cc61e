"""DPO / APO-zero / APO-down against TRL DPOTrainer's formulas, on sequence log-probs of the real Gemma 3 270M.

TRL is not installed: its formulas are written out below from its documentation, independently of the module.
Policy = the fixture model; reference = the same weights with one layer's MLP gate scaled (Gemma 3
re-normalises the MLP output, so scaling the gate, not the output, changes the model): log-ratios are not zero."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recipes.core.chat_template import CHAT_TEMPLATE
from recipes.posttrain.nemo_rl_compat import LossType
from recipes.posttrain.preference_loss import PreferenceLossConfig, PreferenceLossFn, preference_loss

BETA = 0.5

# CLAIR-style pairs: the rejected answer is a plausible model answer, the chosen one its minimal correction.
PAIRS = [
    (
        "Apa ibu kota Indonesia saat ini?",
        "Ibu kota Indonesia saat ini adalah Jakarta, kota terbesar di negara itu.",
        "Ibu kota Indonesia saat ini adalah Bandung, kota terbesar di negara itu.",
    ),
    (
        "ประเทศไทยมีกี่จังหวัด",
        "ประเทศไทยมี 77 จังหวัด รวมกรุงเทพมหานครด้วย",
        "ประเทศไทยมี 50 จังหวัด รวมกรุงเทพมหานครด้วย",
    ),
    (
        "Sông nào dài nhất chảy qua Việt Nam?",
        "Sông dài nhất chảy qua Việt Nam là sông Mê Kông.",
        "Sông dài nhất chảy qua Việt Nam là sông Hồng.",
    ),
]


def trl_losses(chosen_logratios, rejected_logratios, beta, loss_type):
    """TRL DPOTrainer.dpo_loss, from its documented definitions."""
    if loss_type == "sigmoid":
        return -F.logsigmoid(beta * (chosen_logratios - rejected_logratios))
    if loss_type == "apo_zero":
        return (1 - torch.sigmoid(beta * chosen_logratios)) + torch.sigmoid(beta * rejected_logratios)
    return torch.sigmoid(beta * chosen_logratios) + (1 - torch.sigmoid(beta * (chosen_logratios - rejected_logratios)))


@pytest.fixture(scope="module")
def policy(gemma3_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(gemma3_dir, dtype=torch.float32)


def perturbed_reference_logits(policy, batch):
    """Logits of the reference: the policy with one MLP gate scaled by 1.2, restored afterwards (cheaper than a
    second 1 GB model copy on a 2-core test machine)."""
    gate = policy.model.layers[3].mlp.gate_proj.weight
    original = gate.detach().clone()
    with torch.no_grad():
        gate.mul_(1.2)
        logits = policy(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        gate.copy_(original)
    return logits


@pytest.fixture(scope="module")
def batch(gemma3_tokenizer):
    """Interleaved rows (chosen, rejected, chosen, ...), right-padded, with the assistant tokens as token_mask."""
    rows = []
    for prompt, chosen, rejected in PAIRS:
        for answer in (chosen, rejected):
            messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
            rows.append(
                gemma3_tokenizer.apply_chat_template(
                    messages,
                    chat_template=CHAT_TEMPLATE,
                    tokenize=True,
                    return_dict=True,
                    return_assistant_tokens_mask=True,
                )
            )
    width = max(len(row["input_ids"]) for row in rows)
    pad = gemma3_tokenizer.pad_token_id

    def padded(key, value):
        return torch.tensor([row[key] + [value] * (width - len(row[key])) for row in rows])

    return {
        "input_ids": padded("input_ids", pad),
        "attention_mask": padded("attention_mask", 0),
        "token_mask": padded("assistant_masks", 0),
        "sample_mask": torch.ones(len(rows)),
    }


def independent_sequence_logps(logits, input_ids, token_mask):
    """Sum over answer tokens of log p(token | prefix), written here without the module's helpers."""
    logps = torch.log_softmax(logits.float(), dim=-1)[:, :-1]
    picked = torch.gather(logps, 2, input_ids[:, 1:].unsqueeze(2)).squeeze(2)
    return (picked * token_mask[:, 1:]).sum(dim=1)


def test_losses_match_trl_on_gemma3_log_probs_and_reach_the_policy(policy, batch):
    reference_logits = perturbed_reference_logits(policy, batch)
    policy_logits = policy(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits

    reference_tokens = torch.log_softmax(reference_logits.float(), -1)[:, :-1]
    reference_tokens = reference_tokens.gather(-1, batch["input_ids"][:, 1:, None]).squeeze(-1)
    # NeMo-RL's DPO rolls reference log-probs left by one: position t holds the log-prob of token t+1.
    data = {**batch, "reference_policy_logprobs": F.pad(reference_tokens, (0, 1))}

    policy_logps = independent_sequence_logps(policy_logits, batch["input_ids"], batch["token_mask"])
    reference_logps = independent_sequence_logps(reference_logits, batch["input_ids"], batch["token_mask"])
    chosen_logratios = (policy_logps[::2] - reference_logps[::2]).detach()
    rejected_logratios = (policy_logps[1::2] - reference_logps[1::2]).detach()
    assert (chosen_logratios.abs() > 1e-3).all() and (rejected_logratios.abs() > 1e-3).all()

    losses = {}
    for objective in ("sigmoid", "apo_zero", "apo_down"):
        loss_fn = PreferenceLossFn(PreferenceLossConfig(objective=objective, beta=BETA))
        assert loss_fn.loss_type == LossType.SEQUENCE_LEVEL
        logits = policy_logits if objective == "apo_zero" else policy_logits.detach()  # one graph is enough
        loss, metrics = loss_fn(logits, data, global_valid_seqs=torch.tensor(6.0), global_valid_toks=None)
        expected = trl_losses(chosen_logratios, rejected_logratios, BETA, objective).mean()
        assert loss.item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-5), objective
        assert metrics["rewards_chosen_mean"] == pytest.approx(BETA * chosen_logratios.mean().item(), rel=1e-4)
        assert metrics["num_valid_samples"] == 3
        losses[objective] = loss
    # the three objectives really differ on these log-ratios
    assert len({round(loss.item(), 5) for loss in losses.values()}) == 3

    policy.zero_grad()
    losses["apo_zero"].backward()
    layer_grad = policy.model.layers[0].self_attn.q_proj.weight.grad
    embedding_grad = policy.model.embed_tokens.weight.grad
    assert layer_grad is not None and layer_grad.abs().sum() > 0
    assert embedding_grad is not None and embedding_grad.abs().sum() > 0


def test_tensor_function_matches_trl_formulas_and_apo_directions():
    policy_c, policy_r = torch.tensor([-10.0, -3.0]), torch.tensor([-12.0, -2.0])
    reference_c, reference_r = torch.tensor([-11.0, -3.5]), torch.tensor([-11.5, -2.5])
    for objective in ("sigmoid", "apo_zero", "apo_down"):
        ours = preference_loss(policy_c, policy_r, reference_c, reference_r, 0.1, objective)
        torch.testing.assert_close(ours, trl_losses(policy_c - reference_c, policy_r - reference_r, 0.1, objective))

    # With the rejected answer already 3 nats below the reference (r_r = -3) and r_c = 0:
    # APO-zero d/dr_c = -sigmoid'(0) = -0.25 (keep raising chosen);
    # APO-down d/dr_c = sigmoid'(0) - sigmoid'(3) = 0.25 - 0.045 = 0.205 (chosen may go down, margin is kept).
    rejected, zero = torch.tensor([-3.0]), torch.zeros(1)
    for objective, expected in (("apo_zero", -0.25), ("apo_down", 0.25 - 0.0451767)):
        chosen = torch.zeros(1, requires_grad=True)
        preference_loss(chosen, rejected, zero, zero, 1.0, objective).sum().backward()
        assert chosen.grad.item() == pytest.approx(expected, abs=1e-5), objective


def test_sample_mask_drops_pairs_and_odd_rows_are_refused():
    logits = torch.randn(4, 3, 5)
    data = {
        "input_ids": torch.tensor([[1, 2, 3], [1, 2, 4], [1, 3, 3], [1, 3, 0]]),
        "token_mask": torch.tensor([[0, 1, 1]] * 4),
        "sample_mask": torch.tensor([1.0, 1.0, 0.0, 0.0]),
        "reference_policy_logprobs": torch.full((4, 3), -1.0),
    }
    loss_fn = PreferenceLossFn(PreferenceLossConfig(objective="sigmoid", beta=1.0))
    masked, _ = loss_fn(logits, data, torch.tensor(2.0), None)
    first_pair_only, _ = loss_fn(logits[:2], {k: v[:2] for k, v in data.items()}, torch.tensor(2.0), None)
    assert masked.item() == pytest.approx(first_pair_only.item())
    with pytest.raises(ValueError, match="interleaved"):
        loss_fn(logits[:3], {k: v[:3] for k, v in data.items()}, torch.tensor(3.0), None)
