"""Every exporting stage of a multimodal run writes the full Gemma3ForConditionalGeneration beside its text model:
here the merge stage, run by the real stage runner on CPU, on hf_import's split of the tiny multimodal model."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import torch

from recipes.artifacts import multimodal as mm
from recipes.artifacts.versions import Registry, read_record
from tests.helpers.tiny_gemma3 import REPO_ROOT, tensors_by_part, train_one_step


def test_merge_stage_exports_the_multimodal_model_and_records_the_vision_hash(tiny_multimodal_dir, tmp_path):
    from transformers import Gemma3ForConditionalGeneration

    runs = tmp_path / "runs"
    hf_import = runs / "mm" / "hf_import" / "artifact"  # the layout hf_import writes: text/, vision/, identity
    identity = mm.split(tiny_multimodal_dir, hf_import)
    text = hf_import / "text"
    tuned = train_one_step(text, tmp_path / "tuned")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy2(text / name, tuned / name)
    models = f"[{{path: '{text}', weight: 0.5}}, {{path: '{tuned}', weight: 0.5}}]"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "recipes.merge",
            f"launch.root={runs}",
            "run.name=mm",
            "model.multimodal=true",
            f"model.hf_text_checkpoint={text}",
            "merge.method=linear",
            f"merge.models={models}",
            # the tiny checkpoint's architecture (preflight refuses a model config unlike the checkpoint it loads)
            "model.num_layers=3",
            "model.hidden_size=64",
            "model.ffn_hidden_size=128",
            "model.num_attention_heads=2",
            "model.kv_channels=32",
            "merge.out_dtype=float32",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]

    artifact = runs / "mm" / "merge" / "artifact"
    exported = artifact / "multimodal"
    # vision tower and projector bit-identical to the source; the language model is the merged one
    # (the same key sets first: an export without vision tensors must not pass by having nothing to compare)
    source = tensors_by_part(tiny_multimodal_dir, {"vision", "projector"})
    exported_vision = tensors_by_part(exported, {"vision", "projector"})
    assert source and exported_vision.keys() == source.keys()
    assert all(torch.equal(t, source[key]) for key, t in exported_vision.items())
    merged_lm = tensors_by_part(artifact, {"text"})
    exported_lm = tensors_by_part(exported, {"text"})
    assert merged_lm and exported_lm.keys() == merged_lm.keys()
    assert all(torch.equal(exported_lm[key], merged_lm[key]) for key in merged_lm)
    base, trained = tensors_by_part(text, {"text"}), tensors_by_part(tuned, {"text"})
    key = ("text", "layers.0.mlp.down_proj.weight")
    expected = 0.5 * base[key].float() + 0.5 * trained[key].float()
    assert not torch.equal(base[key], trained[key]) and torch.allclose(merged_lm[key].float(), expected, atol=1e-6)
    model = Gemma3ForConditionalGeneration.from_pretrained(exported, dtype=torch.float32)
    assert type(model).__name__ == "Gemma3ForConditionalGeneration"

    # the version record carries the untouched vision tower's hash, and its model card says so
    record = read_record(artifact)
    assert record.manifest["vision"]["sha256"] == identity["sha256"]
    assert record.manifest["vision"]["identity_file"] == "multimodal/vision_identity.json"
    assert identity["sha256"] in Registry(runs / "registry").model_card(record.id)
