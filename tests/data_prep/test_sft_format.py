"""Gemma 3 chat formatting with the real tokenizer: assistant-only masks, packing, overflow, preference pairs."""

import json

import numpy as np
import pytest

from data_prep.sft_format import (
    SFTFormatSettings,
    boundaries,
    label_aligned,
    pack,
    run,
    run_preference,
    tokenize_conversation,
)

CONVS = [
    [
        {"role": "system", "content": "Jawab singkat."},
        {"role": "user", "content": "Apa ibu kota Indonesia?"},
        {"role": "assistant", "content": "Jakarta."},
        {"role": "user", "content": "Dan Malaysia?"},
        {"role": "assistant", "content": "Kuala Lumpur."},
    ],
    [{"role": "user", "content": "สวัสดีครับ"}, {"role": "assistant", "content": "สวัสดีค่ะ ยินดีที่ได้รู้จัก"}],
    [{"role": "user", "content": "Translate 'river' to Vietnamese."}, {"role": "assistant", "content": "sông"}],
    [{"role": "user", "content": "Count to five."}, {"role": "assistant", "content": "one two three four five"}],
]


def _spans(ids, mask):
    """Maximal runs of masked tokens."""
    runs, cur = [], []
    for t, m in zip(ids, mask):
        if m:
            cur.append(t)
        elif cur:
            runs.append(cur)
            cur = []
    return runs + ([cur] if cur else [])


def test_mask_covers_exactly_the_assistant_replies(gemma3_tokenizer):
    for conv in CONVS:
        tok = tokenize_conversation(gemma3_tokenizer, conv)
        assert tok.input_ids == gemma3_tokenizer.apply_chat_template(conv, tokenize=True, return_dict=True)["input_ids"]
        replies = [m["content"] for m in conv if m["role"] == "assistant"]
        decoded = [gemma3_tokenizer.decode(run_) for run_ in _spans(tok.input_ids, tok.loss_mask)]
        assert decoded == [r + "<end_of_turn>" for r in replies]


def test_bad_roles_name_the_message(gemma3_tokenizer):
    with pytest.raises(ValueError, match=r"messages\[1\] needs 'role'"):
        tokenize_conversation(gemma3_tokenizer, [{"role": "user", "content": "x"}, {"role": "bot", "content": "y"}])


def test_packing_never_splits_and_ffd_is_tighter():
    lengths = [7, 5, 4, 3, 3, 2, 6, 1]
    for packing in ("ffd", "greedy"):
        bins = pack(lengths, 10, packing)
        assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
        assert all(sum(lengths[i] for i in b) <= 10 for b in bins)
    assert len(pack([6, 5, 5, 4], 10, "ffd")) == 2 < len(pack([6, 5, 5, 4], 10, "greedy")) == 3
    positions, cu = boundaries([0, 4, 9], 12)
    assert cu.tolist() == [0, 4, 9, 12] and positions.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4, 0, 1, 2]


def test_run_packs_whole_conversations_and_counts_overflow(tmp_path, gemma3_dir, gemma3_tokenizer):
    long_conv = [
        {"role": "user", "content": "Tell a story."},
        {"role": "assistant", "content": "Once upon a time " * 40},
    ]
    rows = CONVS * 3 + [long_conv]
    (tmp_path / "sft.jsonl").write_text("".join(json.dumps({"messages": c}, ensure_ascii=False) + "\n" for c in rows))
    singles = [tokenize_conversation(gemma3_tokenizer, c) for c in CONVS]

    summary = run(SFTFormatSettings(str(gemma3_dir), max_length=96), str(tmp_path / "sft.jsonl"), str(tmp_path / "d"))
    assert (summary.examples, summary.dropped, summary.truncated) == (12, 1, 0)
    packed = np.load(tmp_path / "d" / "packed.npy", allow_pickle=True)
    assert summary.sequences == len(packed) < 12
    pieces = []
    for seq in packed:
        assert len(seq["input_ids"]) == len(seq["loss_mask"]) <= 96
        cu = list(seq["seq_start_id"]) + [len(seq["input_ids"])]
        for a, b in zip(cu, cu[1:]):
            pieces.append((tuple(seq["input_ids"][a:b]), tuple(seq["loss_mask"][a:b])))
    expected = [(tuple(s.input_ids), tuple(label_aligned(s.loss_mask))) for s in singles] * 3
    assert sorted(pieces) == sorted(expected)  # every conversation whole, none split or lost
    for ids, mask in pieces:  # label-aligned: position i is trained when token i+1 is an assistant token
        targets = [ids[i + 1] for i in range(len(ids)) if mask[i]]
        assert targets[-1] == 106 and mask[-1] == 0  # ends by predicting <end_of_turn>; nothing crosses a boundary

    summary = run(
        SFTFormatSettings(str(gemma3_dir), max_length=96, overflow="truncate"),
        str(tmp_path / "sft.jsonl"),
        str(tmp_path / "t"),
    )
    assert (summary.examples, summary.dropped, summary.truncated) == (13, 0, 1)


def test_preference_pairs_share_the_prompt(tmp_path, gemma3_dir, gemma3_tokenizer):
    prompt = [{"role": "user", "content": "Ano ang kabisera ng Pilipinas?"}]
    (tmp_path / "p.jsonl").write_text(json.dumps({"prompt": prompt, "chosen": "Maynila.", "rejected": "Cebu."}) + "\n")
    summary = run_preference(SFTFormatSettings(str(gemma3_dir)), str(tmp_path / "p.jsonl"), str(tmp_path / "o"))
    row = json.loads((tmp_path / "o" / "pairs.jsonl").read_text())
    assert summary.examples == 1
    for side, reply in (("chosen", "Maynila."), ("rejected", "Cebu.")):
        ids, mask = row[f"{side}_input_ids"], row[f"{side}_loss_mask"]
        assert [gemma3_tokenizer.decode(r) for r in _spans(ids, mask)] == [reply + "<end_of_turn>"]
    first = row["chosen_loss_mask"].index(1)
    assert row["chosen_input_ids"][:first] == row["rejected_input_ids"][:first]
