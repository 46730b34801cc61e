"""Held-out rows for NeMo-RL's validation: a seeded sample of a JSONL set, written beside the training rows.

NeMo-RL v0.5.0 validates from its own `data.val_data_path` file (`ResponseDataset`, `BinaryPreferenceDataset`)
and its GRPO setup stops without one while validation is on, so the rl and apo jobs split their inputs here."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Split:
    train_rows: int
    val_rows: int


def split_jsonl(
    sources: list[Path], train: Path, val: Path, held_out: int, min_train: int, seed: int, field: str
) -> Split:
    """Write the non-blank lines of `sources` (in order) to `train`, except `held_out` of them, drawn with `seed`,
    to `val`. `field` names the setting in errors; at least `min_train` rows (one step's worth) must stay."""
    if held_out < 0:
        raise ValueError(f"{field}={held_out} must be >= 0 (0: no validation)")
    rows = []
    for source in sources:
        with open(source, encoding="utf-8") as f:
            rows += [line if line.endswith("\n") else line + "\n" for line in f if line.strip()]
    if len(rows) - held_out < min_train:
        raise ValueError(
            f"{field}={held_out}: {len(rows)} rows in {[str(s) for s in sources]} leave "
            f"{len(rows) - held_out} for training, fewer than one step's {min_train}; lower {field} "
            "or add data"
        )
    picked = set(random.Random(seed).sample(range(len(rows)), held_out))
    train.parent.mkdir(parents=True, exist_ok=True)
    with train.open("w", encoding="utf-8") as train_out, val.open("w", encoding="utf-8") as val_out:
        for index, row in enumerate(rows):
            (val_out if index in picked else train_out).write(row)
    return Split(len(rows) - held_out, held_out)
