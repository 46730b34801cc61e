"""Conversations -> Gemma 3 chat-template tokens with an assistant-only loss mask; packing; preference pairs.

- Rendering uses the tokenizer's own chat template (Gemma 3: the system prompt is folded into the first user
  turn, assistant turns render as `model`). The whole conversation is tokenised once and the mask comes from
  character offsets, so the ids are exactly those of the rendered text. The mask is 1 on each assistant reply and
  its `<end_of_turn>`, 0 elsewhere (the newline after `<end_of_turn>` is template, never generated).
- Packing (first-fit-decreasing, or greedy in input order) puts whole conversations into sequences of at most
  `max_length` tokens and never splits one. `packed.npy` is Megatron-Bridge's packed SFT format (read from its
  `data/datasets/packing_utils.py::fill_packing_strategy`): a list of dicts with `input_ids`, `loss_mask` and
  `seq_start_id` (the start of every conversation: position ids and cu_seqlens follow, see `boundaries`), where
  `loss_mask` is aligned with the LABELS: rolled by one per conversation (`mask[1:] + [0]`), so position i is
  trained when token i+1 is an assistant token and no loss crosses a conversation boundary. Note the Gemma 3
  template ends turns with `<end_of_turn>`, not `<eos>`; nothing is appended.
- A conversation longer than `max_length` is dropped or truncated (`overflow`), and counted.
- Preference pairs (prompt messages, chosen reply, rejected reply) become two conversations tokenised the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rich.progress import track

from recipes.core.jsonl import jsonl_rows

ROLES = ("system", "user", "assistant")
PACKINGS = ("ffd", "greedy", "none")
OVERFLOWS = ("drop", "truncate")


@dataclass
class SFTFormatSettings:
    tokenizer: str = ""  # Hugging Face tokenizer directory or hub id carrying the Gemma 3 chat template
    max_length: int = 4096  # longest conversation, and the length of a packed sequence
    packing: str = "ffd"  # "ffd" first-fit-decreasing, "greedy" in input order, "none"
    overflow: str = "drop"  # a conversation over max_length: "drop" or "truncate"


@dataclass
class Tokenized:
    input_ids: list[int]
    loss_mask: list[int]


@dataclass
class SFTFormatSummary:
    output: str
    examples: int = 0
    dropped: int = 0
    truncated: int = 0
    sequences: int = 0
    tokens: int = 0
    loss_tokens: int = 0
    fill: float = 0.0  # tokens / (sequences * max_length) when packed


def _check_messages(messages, where: str) -> None:
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"{where}: 'messages' must be a non-empty list of {{'role', 'content'}} objects")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ValueError(f"{where}: messages[{i}] needs 'role' in {ROLES} and a string 'content'; got {m!r}")
    if messages[-1]["role"] != "assistant":
        raise ValueError(f"{where}: the last message must be the assistant's reply (role 'assistant')")


def tokenize_conversation(tokenizer, messages: list[dict]) -> Tokenized:
    """Token ids of the rendered conversation and a mask that is 1 on assistant replies incl. <end_of_turn>."""
    _check_messages(messages, "conversation")
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []  # character spans of assistant replies, each ending after its <end_of_turn>
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start = len(tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True))
        end = len(tokenizer.apply_chat_template(messages[: i + 1], tokenize=False))
        turn = text[start:end]
        if not text.startswith(tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)):
            raise ValueError("the chat template does not render conversations prefix-consistently; cannot mask")
        spans.append((start, start + turn.rindex("<end_of_turn>") + len("<end_of_turn>")))
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(s <= a and b <= e for s, e in spans)) for a, b in enc["offset_mapping"]]
    return Tokenized(list(enc["input_ids"]), mask)


def pack(lengths: list[int], max_length: int, packing: str) -> list[list[int]]:
    """Indices of the examples in each packed sequence; an example is never split."""
    if packing not in PACKINGS:
        raise ValueError(f"packing={packing!r}; use one of {PACKINGS}")
    if any(n > max_length for n in lengths):
        raise ValueError(f"an example is longer than max_length={max_length}; drop or truncate it first")
    if packing == "none":
        return [[i] for i in range(len(lengths))]
    bins: list[list[int]] = []
    room: list[int] = []
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i]) if packing == "ffd" else range(len(lengths))
    for i in order:
        if packing == "greedy":
            target = len(bins) - 1 if bins and room[-1] >= lengths[i] else None
        else:
            target = next((b for b, r in enumerate(room) if r >= lengths[i]), None)
        if target is None:
            bins.append([])
            room.append(max_length)
            target = len(bins) - 1
        bins[target].append(i)
        room[target] -= lengths[i]
    return bins


def label_aligned(loss_mask: list[int]) -> list[int]:
    """Token-aligned mask -> label-aligned (Megatron-Bridge packed format): position i trains on token i+1."""
    return loss_mask[1:] + [0]


def boundaries(seq_start_id: list[int], length: int) -> tuple[np.ndarray, np.ndarray]:
    """position_ids (restarting at 0 for each conversation) and cu_seqlens of one packed sequence."""
    cu = np.array(list(seq_start_id) + [length], dtype=np.int32)
    positions = np.concatenate([np.arange(cu[k + 1] - cu[k]) for k in range(len(cu) - 1)]).astype(np.int64)
    return positions, cu


def _fit(example: Tokenized, settings: SFTFormatSettings, summary: SFTFormatSummary) -> Tokenized | None:
    if len(example.input_ids) <= settings.max_length:
        return example
    if settings.overflow == "drop":
        summary.dropped += 1
        return None
    summary.truncated += 1
    return Tokenized(example.input_ids[: settings.max_length], example.loss_mask[: settings.max_length])


def _load_tokenizer(settings: SFTFormatSettings):
    from transformers import AutoTokenizer

    for name, allowed in (("packing", PACKINGS), ("overflow", OVERFLOWS)):
        if getattr(settings, name) not in allowed:
            raise ValueError(f"SFTFormatSettings.{name}={getattr(settings, name)!r}; use one of {allowed}")
    if not settings.tokenizer:
        raise ValueError("SFTFormatSettings.tokenizer is empty; set it to the Gemma 3 tokenizer directory or hub id")
    tokenizer = AutoTokenizer.from_pretrained(settings.tokenizer)
    if not tokenizer.chat_template:
        raise ValueError(f"tokenizer {settings.tokenizer} has no chat template; use one that carries Gemma 3's")
    return tokenizer


def _read_jsonl(path: str) -> list[dict]:
    return [row for _, row in jsonl_rows(path)]


def run(settings: SFTFormatSettings, input_path: str, output_dir: str) -> SFTFormatSummary:
    """SFT: JSONL of {"messages": [...]} -> output_dir/packed.npy (+ stats.json)."""
    tokenizer = _load_tokenizer(settings)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = SFTFormatSummary(str(out / "packed.npy"))
    examples = []
    for n, row in enumerate(track(_read_jsonl(input_path), description="sft tokenise"), 1):
        _check_messages(row.get("messages"), f"{input_path}:{n}")
        fitted = _fit(tokenize_conversation(tokenizer, row["messages"]), settings, summary)
        if fitted is not None:
            examples.append(fitted)
    summary.examples = len(examples)
    packed = []
    for members in pack([len(e.input_ids) for e in examples], settings.max_length, settings.packing):
        starts: list[int] = []
        ids: list[int] = []
        mask: list[int] = []
        for i in members:
            starts.append(len(ids))
            ids += examples[i].input_ids
            mask += label_aligned(examples[i].loss_mask)
        packed.append({"input_ids": ids, "loss_mask": mask, "seq_start_id": starts})
    np.save(out / "packed.npy", np.array(packed, dtype=object), allow_pickle=True)
    summary.sequences = len(packed)
    summary.tokens = sum(len(p["input_ids"]) for p in packed)
    summary.loss_tokens = sum(sum(p["loss_mask"]) for p in packed)
    summary.fill = summary.tokens / max(1, summary.sequences * settings.max_length)
    (out / "stats.json").write_text(json.dumps(asdict(summary), indent=2))
    return summary


def run_preference(settings: SFTFormatSettings, input_path: str, output_dir: str) -> SFTFormatSummary:
    """Preference: JSONL of {"prompt": [messages], "chosen": str, "rejected": str} -> output_dir/pairs.jsonl.

    Masks in pairs.jsonl are token-aligned (1 on the reply's tokens), as preference losses sum reply log-probs.
    """
    tokenizer = _load_tokenizer(settings)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = SFTFormatSummary(str(out / "pairs.jsonl"))
    with open(out / "pairs.jsonl", "w") as f:
        for n, row in enumerate(track(_read_jsonl(input_path), description="pairs tokenise"), 1):
            where = f"{input_path}:{n}"
            for name in ("chosen", "rejected"):
                if not isinstance(row.get(name), str):
                    raise ValueError(f"{where}: {name!r} must be the assistant reply as a string")
            prompt = row.get("prompt")
            if not isinstance(prompt, list) or not prompt or prompt[-1].get("role") != "user":
                raise ValueError(f"{where}: 'prompt' must be a list of messages ending with a 'user' turn")
            fitted = {
                name: _fit(
                    tokenize_conversation(tokenizer, prompt + [{"role": "assistant", "content": row[name]}]),
                    settings,
                    summary,
                )
                for name in ("chosen", "rejected")
            }
            sides = {name: v for name, v in fitted.items() if v is not None}
            if len(sides) < len(fitted):
                continue
            summary.examples += 1
            summary.tokens += sum(len(v.input_ids) for v in sides.values())
            summary.loss_tokens += sum(sum(v.loss_mask) for v in sides.values())
            f.write(
                json.dumps(
                    {
                        f"{k}_{field_}": getattr(v, field_)
                        for k, v in sides.items()
                        for field_ in ("input_ids", "loss_mask")
                    }
                )
                + "\n"
            )
    summary.sequences = summary.examples
    (out / "stats.json").write_text(json.dumps(asdict(summary), indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    defaults = SFTFormatSettings()
    parser = argparse.ArgumentParser(
        prog="python -m data_prep.sft_format",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "kind", choices=("sft", "preference"), help="sft: {'messages'} rows; preference: {'prompt','chosen','rejected'}"
    )
    parser.add_argument("input", help="JSONL input")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument(
        "--tokenizer", required=True, help="tokenizer directory or hub id with the Gemma 3 chat template"
    )
    parser.add_argument("--max-length", type=int, default=defaults.max_length)
    parser.add_argument("--packing", choices=PACKINGS, default=defaults.packing)
    parser.add_argument("--overflow", choices=OVERFLOWS, default=defaults.overflow)
    args = parser.parse_args(argv)
    settings = SFTFormatSettings(args.tokenizer, args.max_length, args.packing, args.overflow)
    summary = (run if args.kind == "sft" else run_preference)(settings, args.input, args.output_dir)
    print(json.dumps(asdict(summary), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
