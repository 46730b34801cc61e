"""Vocabulary-parallel log-probs and losses with the ranks as threads of one process: fast enough to run per mutant.

The collective is a stand-in: `torch.distributed.all_reduce` and `get_world_size` are replaced, for these tests only,
by a barrier over threads that sums or takes the max of every rank's tensor (what gloo's SUM and MAX do). The real
collectives, in two gloo processes and on a DTensor, are tested in tests/posttrain/test_vocab_parallel.py; here the
reference is torch's own log_softmax on the whole vocabulary, and each rank's gradient must be its slice of the
whole-vocabulary gradient."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
from torch.distributed.tensor import Replicate, Shard

from recipes.posttrain.preference_loss import PreferenceLossConfig, PreferenceLossFn
from recipes.posttrain.rl_loss import DrGRPOLossConfig, DrGRPOLossFn
from recipes.posttrain.vocab_parallel import _dtensor_vocab_shard, next_token_logprobs


class ThreadGroup:
    """`size` ranks, one thread each; all_reduce waits for every rank, then each reads the reduction."""

    def __init__(self, size: int):
        self.size = size
        self._barrier = threading.Barrier(size, timeout=30)
        self._slots: list[torch.Tensor | None] = [None] * size
        self._rank = threading.local()

    def all_reduce(self, tensor: torch.Tensor, op=dist.ReduceOp.SUM, group=None) -> None:
        assert group is self, "reduced over a group other than the vocabulary's"
        assert op in (dist.ReduceOp.SUM, dist.ReduceOp.MAX)
        self._slots[self._rank.value] = tensor.detach().clone()
        self._barrier.wait()
        stacked = torch.stack(self._slots)
        reduced = stacked.sum(0) if op == dist.ReduceOp.SUM else stacked.max(0).values
        self._barrier.wait()  # every rank has read the slots before any writes the next reduction's
        tensor.copy_(reduced)

    def run(self, fn):
        """fn(rank) on every rank at once; the results in rank order."""

        def as_rank(rank):
            self._rank.value = rank
            return fn(rank)

        with ThreadPoolExecutor(self.size) as pool:
            return list(pool.map(as_rank, range(self.size)))


@pytest.fixture
def threads(monkeypatch):
    def make(size: int) -> ThreadGroup:
        group = ThreadGroup(size)
        monkeypatch.setattr(dist, "all_reduce", group.all_reduce)
        return group

    monkeypatch.setattr(dist, "get_world_size", lambda group=None: group.size)
    return make


def _batch(rows=3, length=5, vocab=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    # Logits near 1000: exp() overflows float32 unless the shift is the global max (a sum of maxima underflows).
    logits = 1000 + 4 * torch.randn(rows, length, vocab, generator=generator)
    input_ids = torch.randint(vocab, (rows, length), generator=generator)
    return logits, input_ids


@pytest.mark.parametrize("ranks", [2, 3])
def test_megatron_slices_give_the_whole_vocabularys_logprobs_and_gradient_slices(threads, ranks):
    logits, input_ids = _batch()
    weights = torch.randn(input_ids.shape[0], input_ids.shape[1] - 1, generator=torch.Generator().manual_seed(1))
    whole = logits.clone().requires_grad_()
    expected = torch.log_softmax(whole[:, :-1], dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    (expected * weights).sum().backward()

    group, width = threads(ranks), logits.shape[-1] // ranks

    def rank_logprobs(rank):
        # The logits run two positions past the data, as sequence packing pads them.
        local = torch.cat([logits[..., rank * width : (rank + 1) * width], torch.randn(3, 2, width)], 1)
        local.requires_grad_()
        logprobs = next_token_logprobs(local, input_ids, vocab_parallel_rank=rank, vocab_parallel_group=group)
        (logprobs * weights).sum().backward()
        return logprobs.detach(), local.grad

    for rank, (logprobs, grad) in enumerate(group.run(rank_logprobs)):
        torch.testing.assert_close(logprobs, expected.detach(), rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(
            grad[:, :5], whole.grad[..., rank * width : (rank + 1) * width], rtol=1e-4, atol=1e-5
        )
        assert not grad[:, 5:].any()


def test_loss_classes_pass_the_rank_and_refuse_a_context_parallel_group(threads):
    logits, input_ids = _batch(rows=4, length=5, vocab=8)
    mask = torch.tensor([[0, 1, 1, 1, 0]] * 4)
    previous = torch.randn(4, 5, generator=torch.Generator().manual_seed(2)) - 2
    grpo = (
        DrGRPOLossFn(DrGRPOLossConfig.dr_grpo(4, reference_policy_kl_penalty=0.1)),
        {
            "input_ids": input_ids,
            "token_mask": mask,
            "sample_mask": torch.ones(4),
            "prev_logprobs": previous,
            "generation_logprobs": previous,
            "reference_policy_logprobs": previous + 0.1,
            "advantages": torch.tensor([[1.0], [-1.0], [0.5], [-0.5]]).expand(4, 5),
        },
    )
    apo = (
        PreferenceLossFn(PreferenceLossConfig(sft_loss_weight=0.1)),
        {
            "input_ids": input_ids,
            "token_mask": mask,
            "sample_mask": torch.ones(4),
            "reference_policy_logprobs": previous,
        },
    )
    counts = (torch.tensor(4.0), torch.tensor(12.0))
    for loss_fn, data in (grpo, apo):
        expected, _ = loss_fn(logits, data, *counts)
        group = threads(2)

        def shard_loss(rank, loss_fn=loss_fn, data=data, group=group):
            return loss_fn(
                logits[..., rank * 4 : (rank + 1) * 4],
                data,
                *counts,
                vocab_parallel_rank=rank,
                vocab_parallel_group=group,
            )[0]

        losses = group.run(shard_loss)
        for loss in losses:
            torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)
        # Context parallelism splits the sequence, which these losses cannot score: refused, not mis-scored.
        with pytest.raises(ValueError, match="context_parallel_size: 1"):
            loss_fn(logits, data, *counts, context_parallel_group=ThreadGroup(2))
        loss_fn(logits, data, *counts, context_parallel_group=ThreadGroup(1))  # one rank: nothing is split


def test_batch_and_logits_shapes_must_agree():
    with pytest.raises(ValueError, match="next_token_logits has batch/sequence shape"):
        next_token_logprobs(torch.zeros(2, 4, 8), torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="next_token_logits has batch/sequence shape"):
        next_token_logprobs(torch.zeros(2, 3, 8), torch.zeros(2, 4, dtype=torch.long))
    assert next_token_logprobs(torch.zeros(2, 4, 8), torch.zeros(2, 4, dtype=torch.long)).shape == (2, 3)


def _dtensor(placements, vocab: int, mesh_sizes: tuple[int, ...], ranks: tuple[int, ...]):
    """What `_dtensor_vocab_shard` reads of a DTensor: global shape, placements, mesh sizes, ranks and groups."""
    mesh = SimpleNamespace(
        size=lambda dim: mesh_sizes[dim],
        get_local_rank=lambda dim: ranks[dim],
        get_group=lambda dim: f"group of mesh dim {dim}",
    )
    local = torch.zeros(2, 3, 1)
    return SimpleNamespace(
        ndim=3, shape=torch.Size([2, 3, vocab]), placements=placements, device_mesh=mesh, to_local=lambda: local
    ), local


@pytest.mark.parametrize(
    "vocab, ranks, rank, start",
    [
        # torch.chunk's split: ceil(V / n) per rank, the last ones shorter or empty (DTensor Shard's documented rule)
        (12, 2, 1, 6),
        (11, 2, 1, 6),
        (11, 4, 3, 9),
        (5, 4, 3, 5),
        (262144, 4, 2, 131072),
        (10, 3, 0, 0),
    ],
)
def test_dtensor_vocabulary_shard_starts_where_torch_chunk_puts_it(vocab, ranks, rank, start):
    assert math.ceil(vocab / ranks) * rank == start or start == vocab  # the expectation, re-derived
    tensor, local = _dtensor([Replicate(), Shard(2)], vocab, (2, ranks), (1, rank))
    assert _dtensor_vocab_shard(tensor) == (local, "group of mesh dim 1", start)
    negative, _ = _dtensor([Shard(-1)], vocab, (ranks,), (rank,))
    assert _dtensor_vocab_shard(negative)[1:] == ("group of mesh dim 0", start)


def test_dtensor_placements_other_than_the_vocabulary_are_refused():
    replicated, local = _dtensor([Replicate(), Replicate()], 8, (2, 2), (1, 1))
    assert _dtensor_vocab_shard(replicated) == (local, None, 0)
    for placements, message in (
        ([Shard(1)], "context_parallel_size: 1"),
        ([Replicate(), Shard(0)], "Replicate"),
        ([Shard(2), Shard(-1)], "several mesh dims"),
    ):
        tensor, _ = _dtensor(placements, 8, (2, 2), (0, 0))
        with pytest.raises(ValueError, match=message):
            _dtensor_vocab_shard(tensor)


def test_a_real_dtensor_on_a_one_rank_gloo_mesh_gives_the_whole_vocabularys_logprobs(tmp_path):
    # The DTensor branch end to end with torch's own DTensor, in this process: one gloo rank, so every collective
    # is real and the shard is the whole vocabulary (two ranks: test_vocab_parallel.py).
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor

    logits, input_ids = _batch(rows=2, length=4, vocab=6)
    expected = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        mesh = init_device_mesh("cpu", (1,), mesh_dim_names=("tp",))
        for placement in (Shard(-1), Replicate()):
            sharded = DTensor.from_local(logits.clone(), mesh, [placement])
            torch.testing.assert_close(next_token_logprobs(sharded, input_ids), expected, rtol=1e-5, atol=1e-4)
    finally:
        dist.destroy_process_group()
