"""The Dr. GRPO and APO losses on vocabulary-parallel logits give the loss, metrics and gradients of whole logits.

Two gloo processes on CPU hold half of Gemma 3's vocabulary each, in the two forms NeMo-RL v0.5.0 hands a loss
(`nemo_rl/algorithms/loss_functions.py` at v0.5.0): a DTensor placed `Shard(-1)` on a "tp" mesh (the DTensor
workers; `nemo_rl/models/dtensor/parallelize.py` ends Gemma 3's plan in `ColwiseParallel(output_layouts=Shard(-1))`)
and a plain slice with `vocab_parallel_group` / `vocab_parallel_rank` plus a one-rank context-parallel group (the
Megatron worker, `nemo_rl/models/megatron/common.py`). The reference is the same loss on the whole logits in the
same process; the gradient each rank gets must be its slice of the whole-logits gradient."""

from __future__ import annotations

import json

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import DTensor, Shard

from recipes.posttrain.preference_loss import PreferenceLossConfig, PreferenceLossFn
from recipes.posttrain.rl_loss import DrGRPOLossConfig, DrGRPOLossFn
from recipes.posttrain.vocab_parallel import next_token_logprobs

WORLD = 2
TEXTS = [
    "Apa ibu kota Indonesia? Jakarta.",
    "Thủ đô của Việt Nam là Hà Nội.",
    "เมืองหลวงของประเทศไทยคือกรุงเทพฯ",
    "Ibu kota Malaysia ialah Kuala Lumpur.",
]


def _close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-6)


def _check(loss_fn, logits: torch.Tensor, data: dict, counts: tuple, rank: int, groups: dict) -> None:
    whole = logits.clone().requires_grad_()
    expected_loss, expected_metrics = loss_fn(whole, data, *counts)
    expected_loss.backward()

    # Megatron: equal slices of a padded vocabulary, the TP group and a one-rank context-parallel group; the logits
    # run 3 positions past the data, as sequence packing pads them (SequencePackingLossWrapper, v0.5.0).
    width = logits.shape[-1] // WORLD
    piece = slice(rank * width, (rank + 1) * width)
    local = torch.cat([logits[..., piece], torch.randn(logits.shape[0], 3, width)], dim=1).requires_grad_()
    loss, metrics = loss_fn(
        local,
        data,
        *counts,
        vocab_parallel_rank=rank,
        vocab_parallel_group=groups["tp"],
        context_parallel_group=groups["cp"],
    )
    loss.backward()
    _close(loss, expected_loss.detach())
    assert metrics == pytest.approx(expected_metrics, rel=1e-4, abs=1e-4), (metrics, expected_metrics)
    _close(local.grad[:, : logits.shape[1]], whole.grad[..., piece])
    assert not local.grad[:, logits.shape[1] :].any()

    # DTensor on a "tp" mesh, also with a vocabulary that does not split evenly (torch.chunk: 6 + 5 of 11).
    for vocab in (logits.shape[-1], 11):
        full = logits[..., :vocab].clone()
        whole = full.clone().requires_grad_()
        expected_loss, _ = loss_fn(whole, {**data, "input_ids": data["input_ids"] % vocab}, *counts)
        expected_loss.backward()
        chunk = -(-vocab // WORLD)
        piece = slice(rank * chunk, min((rank + 1) * chunk, vocab))
        local = full[..., piece].clone().requires_grad_()
        sharded = DTensor.from_local(local, groups["mesh"], [Shard(-1)], shape=full.shape, stride=full.stride())
        loss, _ = loss_fn(sharded, {**data, "input_ids": data["input_ids"] % vocab}, *counts)
        loss.backward()
        _close(loss, expected_loss.detach())
        _close(local.grad, whole.grad[..., piece])


def _worker(rank: int, init_file: str, cases: list) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        cp_groups = [dist.new_group([r]) for r in range(WORLD)]  # every rank creates every group, in order
        groups = {
            "tp": dist.new_group(list(range(WORLD))),
            "cp": cp_groups[rank],
            "mesh": init_device_mesh("cpu", (WORLD,), mesh_dim_names=("tp",)),
        }
        for loss_fn, logits, data, counts in cases:
            _check(loss_fn, logits, data, counts, rank, groups)
        # Context parallelism splits the sequence: a Shard on another dim is named, not silently mis-scored.
        sequence_split = DTensor.from_local(torch.randn(2, 3, 7), groups["mesh"], [Shard(1)])
        with pytest.raises(ValueError, match="context_parallel_size: 1"):
            next_token_logprobs(sequence_split, torch.zeros(2, 6, dtype=torch.long))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def batch(gemma3_tokenizer, gemma3_dir):
    """Four real Gemma 3 token rows (right-padded) and random logits over the 270M's whole vocabulary."""
    vocab = json.loads((gemma3_dir / "config.json").read_text())["vocab_size"]  # 262144, a gemma3_text config
    encoded = gemma3_tokenizer(TEXTS, padding=True, return_tensors="pt")
    input_ids, attention = encoded["input_ids"][:, :12], encoded["attention_mask"][:, :12]
    token_mask = attention.clone()
    token_mask[:, :4] = 0  # the first four tokens are the prompt
    generator = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(*input_ids.shape, vocab, generator=generator)
    return input_ids, token_mask, logits


def test_losses_on_vocab_parallel_logits_match_whole_logits(batch, tmp_path):
    input_ids, token_mask, logits = batch
    rows, length = input_ids.shape
    # Near-on-policy log-probs, as in a real step: the policy's own plus noise (a ratio within a few percent of 1).
    generator = torch.Generator().manual_seed(1)
    policy = torch.zeros(rows, length)
    policy[:, 1:] = next_token_logprobs(logits, input_ids)
    previous = policy + 0.05 * torch.randn(rows, length, generator=generator)
    grpo_data = {
        "input_ids": input_ids,
        "token_mask": token_mask,
        "sample_mask": torch.ones(rows),
        "advantages": torch.tensor([0.5, -0.5, 0.25, -0.25])[:, None].expand(rows, length).clone(),
        "prev_logprobs": previous,
        "generation_logprobs": previous - 0.1,
        "reference_policy_logprobs": previous + 0.05 * torch.randn(rows, length, generator=generator),
    }
    grpo = DrGRPOLossFn(DrGRPOLossConfig.dr_grpo(16, reference_policy_kl_penalty=0.05))
    tokens = float(token_mask[:, 1:].sum())
    apo_data = {
        "input_ids": input_ids,
        "token_mask": token_mask,
        "sample_mask": torch.ones(rows),
        "reference_policy_logprobs": previous.roll(-1, dims=1),
    }  # NeMo-RL's DPO layout: token t+1 at t
    apo = PreferenceLossFn(PreferenceLossConfig(objective="apo_zero", beta=0.1, sft_loss_weight=0.1))
    cases = [
        (grpo, logits, grpo_data, (torch.tensor(float(rows)), torch.tensor(tokens))),
        (apo, logits, apo_data, (torch.tensor(float(rows)), torch.tensor(tokens))),
    ]
    mp.spawn(_worker, args=(str(tmp_path / "store"), cases), nprocs=WORLD, join=True)  # fork hangs in gloo
