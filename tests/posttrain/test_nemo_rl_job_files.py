"""What the rl and apo jobs write around NeMo-RL: the held-out validation split before training, and the Hugging
Face artifact taken from NeMo-RL's last checkpoint after it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from recipes.posttrain.holdout import split_jsonl
from recipes.posttrain.nemo_rl_entry import export_hf


def _jsonl(path: Path, rows: list[dict], trailing_newline: bool = True) -> Path:
    text = "\n".join(json.dumps(row) for row in rows)
    path.write_text(text + ("\n" if trailing_newline else ""))
    return path


def test_split_holds_out_a_seeded_sample_and_keeps_every_row(tmp_path):
    math = _jsonl(
        tmp_path / "math.jsonl", [{"input": f"m{i}", "output": str(i)} for i in range(30)], trailing_newline=False
    )  # the last row must not run into the next file's first
    instructions = _jsonl(tmp_path / "if.jsonl", [{"input": f"i{i}", "output": "{}"} for i in range(20)])
    train, val = tmp_path / "data" / "train.jsonl", tmp_path / "data" / "val.jsonl"
    split = split_jsonl([math, instructions], train, val, held_out=8, min_train=32, seed=7, field="rl.val_prompts")
    train_rows = [json.loads(line) for line in train.read_text().splitlines()]
    val_rows = [json.loads(line) for line in val.read_text().splitlines()]
    assert (split.train_rows, split.val_rows) == (42, 8) and (len(train_rows), len(val_rows)) == (42, 8)
    every = sorted(row["input"] for row in train_rows + val_rows)
    assert every == sorted([f"m{i}" for i in range(30)] + [f"i{i}" for i in range(20)])

    again = tmp_path / "again"
    split_jsonl([math, instructions], again / "t.jsonl", again / "v.jsonl", 8, 32, 7, "rl.val_prompts")
    assert (again / "v.jsonl").read_text() == val.read_text()  # the same seed holds out the same rows
    split_jsonl([math, instructions], again / "t.jsonl", again / "v.jsonl", 8, 32, 8, "rl.val_prompts")
    assert (again / "v.jsonl").read_text() != val.read_text()


def test_split_refuses_to_leave_less_than_one_step(tmp_path):
    pairs = _jsonl(tmp_path / "pairs.jsonl", [{"prompt": [], "chosen": "a", "rejected": "b"}] * 10)
    with pytest.raises(ValueError, match=r"apo.val_pairs=4: 10 rows .* leave 6 for training, fewer than one step's 8"):
        split_jsonl([pairs], tmp_path / "t.jsonl", tmp_path / "v.jsonl", 4, 8, 0, "apo.val_pairs")
    assert not (tmp_path / "t.jsonl").exists()


def _checkpoint(root: Path, step: int, gemma3_dir: Path, consolidated: bool = True) -> Path:
    """A step directory as NeMo-RL v0.5.0's GRPO writes it with the DTensor v2 worker (`grpo.py`: config.yaml,
    policy/weights, policy/tokenizer; Automodel's checkpointer: the Hugging Face export in weights/model/consolidated
    beside the sharded safetensors)."""
    step_dir = root / f"step_{step}"
    config = {
        "policy": {"dtensor_cfg": {"_v2": True, "enabled": True}, "megatron_cfg": {"enabled": False}},
        "checkpointing": {"model_save_format": "safetensors", "save_consolidated": consolidated},
    }
    (step_dir / "policy" / "weights" / "model").mkdir(parents=True)
    (step_dir / "config.yaml").write_text(yaml.safe_dump(config))
    if consolidated:
        export = step_dir / "policy" / "weights" / "model" / "consolidated"
        export.mkdir()
        shutil.copy(gemma3_dir / "config.json", export / "config.json")
        save_file({"model.norm.weight": torch.full((4,), float(step))}, export / "model.safetensors")
    tokenizer = step_dir / "policy" / "tokenizer"
    tokenizer.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(gemma3_dir / name, tokenizer / name)
    return step_dir


def test_export_takes_the_last_steps_consolidated_safetensors_and_tokenizer(tmp_path, gemma3_dir):
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoTokenizer

    for step in (2, 10):  # step_10 sorts before step_2 as text
        _checkpoint(tmp_path / "checkpoints", step, gemma3_dir)
    artifact = tmp_path / "artifact"
    export_hf(str(tmp_path / "checkpoints"), artifact)
    assert load_file(artifact / "model.safetensors")["model.norm.weight"].tolist() == [10.0] * 4
    assert AutoConfig.from_pretrained(artifact).model_type == "gemma3_text"
    assert AutoTokenizer.from_pretrained(artifact)("Selamat pagi").input_ids[0] == 2  # <bos>


def test_export_names_a_missing_consolidated_export(tmp_path, gemma3_dir):
    _checkpoint(tmp_path / "checkpoints", 5, gemma3_dir, consolidated=False)
    with pytest.raises(FileNotFoundError, match="save_consolidated: true"):
        export_hf(str(tmp_path / "checkpoints"), tmp_path / "artifact")
