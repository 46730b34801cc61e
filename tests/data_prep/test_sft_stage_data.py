"""The sft stage packs a conversations JSONL itself (the smoke experiment's sample), with the real Gemma 3 chat
template, before building the training config; a packed.npy passes through."""

import numpy as np

from recipes.core.config import to_object
from recipes.core.stage_context import StageContext
from recipes.stages import compose
from recipes.stages.sft import packed_data


def _ctx(tmp_path, *overrides):
    return StageContext(to_object(compose("sft", [f"launch.root={tmp_path}", *overrides])), tmp_path / "sft")


def test_smoke_conversations_are_packed_at_job_start(tmp_path):
    ctx = _ctx(tmp_path)
    assert ctx.cfg.dataset.packed_data.endswith("sample_sft/conversations.jsonl")
    packed = np.load(packed_data(ctx), allow_pickle=True)
    assert sum(len(seq["seq_start_id"]) for seq in packed) == 11  # every conversation, once
    for seq in packed:
        assert len(seq["input_ids"]) == len(seq["loss_mask"]) <= ctx.cfg.dataset.sequence_length
        assert 0 < sum(seq["loss_mask"]) < len(seq["input_ids"])  # assistant tokens only


def test_a_packed_file_is_used_as_it_is(tmp_path):
    ctx = _ctx(tmp_path, f"dataset.packed_data={tmp_path / 'packed.npy'}")
    assert packed_data(ctx) == str(tmp_path / "packed.npy")
