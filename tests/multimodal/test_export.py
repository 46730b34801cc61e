"""Split -> train the text model -> reassemble: vision bits untouched, trained LM in, loads and sees images."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from recipes.artifacts import multimodal as mm
from tests.helpers.tiny_gemma3 import REPO_ROOT, save_tiny, tensors_by_part, train_one_step


@pytest.fixture(scope="module")
def exported(tiny_multimodal_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("export")
    identity = mm.split(tiny_multimodal_dir, work / "split")
    trained = train_one_step(work / "split" / "text", work / "trained")
    # 20 MiB shards: the 262208 x 64 bf16 embedding alone is 32 MiB, so the output is sharded with an index.
    summary = mm.reassemble(
        trained, work / "split" / "vision", work / "out", settings=mm.MultimodalSettings(max_shard_gib=20 / 1024)
    )
    return work, identity, summary


def test_vision_bit_identical_and_language_model_is_the_trained_one(tiny_multimodal_dir, exported):
    work, identity, summary = exported
    assert summary.shards > 1 and (work / "out" / "model.safetensors.index.json").exists()
    source = tensors_by_part(tiny_multimodal_dir, {"vision", "projector", "text"})
    out = tensors_by_part(work / "out", {"vision", "projector", "text"})
    trained = tensors_by_part(work / "trained", {"text"})
    vision_keys = {k for k in source if k[0] != "text"}
    assert vision_keys == {k for k in out if k[0] != "text"} and len(vision_keys) == summary.vision_tensors
    for key in vision_keys:
        assert source[key].dtype == out[key].dtype
        assert torch.equal(source[key].view(torch.uint8), out[key].view(torch.uint8)), key
    text_keys = {k for k in out if k[0] == "text"}
    assert text_keys == set(trained)
    for key in text_keys:
        assert torch.equal(out[key], trained[key]), key
    changed = [k for k in text_keys if not torch.equal(out[k], source[k])]
    assert len(changed) > len(text_keys) // 2, "the optimizer step should have changed the language model"
    recorded = json.loads((work / "split" / mm.IDENTITY_FILE).read_text())
    assert recorded == identity and mm.verify(work / "out", recorded).sha256 == identity["sha256"]


def test_reassembled_checkpoint_loads_and_runs_with_an_image(exported):
    from PIL import Image
    from transformers import AutoProcessor, Gemma3ForConditionalGeneration

    from recipes.core.chat_template import CHAT_TEMPLATE

    work, _, _ = exported
    model, info = Gemma3ForConditionalGeneration.from_pretrained(work / "out", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    processor = AutoProcessor.from_pretrained(work / "out")
    assert processor.chat_template == CHAT_TEMPLATE
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour?"}]}]
    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    logits = []
    for colour in ((220, 20, 20), (20, 20, 220)):
        inputs = processor(text=prompt, images=[Image.new("RGB", (64, 64), colour)], return_tensors="pt")
        assert (inputs["input_ids"] == model.config.image_token_index).sum() == model.config.mm_tokens_per_image
        with torch.no_grad():
            logits.append(model(**inputs).logits[0, -1])
    assert logits[0].shape == (model.config.text_config.vocab_size,) and torch.isfinite(logits[0]).all()
    assert not torch.equal(logits[0], logits[1]), "the image must reach the language model"


def test_other_source_vision_tower_is_refused(tiny_multimodal_dir, exported, tmp_path, gemma3_dir):
    work, identity, _ = exported
    other = save_tiny(tmp_path / "other-seed", gemma3_dir, seed=1)
    with pytest.raises(mm.VisionMismatchError, match="SHA-256 differs"):
        mm.reassemble(work / "trained", other, tmp_path / "out", identity=identity)
    assert not (tmp_path / "out").exists()


def test_other_size_vision_tower_is_refused(exported, tmp_path, gemma3_dir):
    work, identity, _ = exported
    wider = save_tiny(tmp_path / "wider-vision", gemma3_dir, seed=0, vision_hidden=48)
    with pytest.raises(mm.VisionMismatchError, match=r"change shape.*hidden_size: 32 -> 48"):
        mm.reassemble(work / "trained", wider, tmp_path / "a", identity=identity)
    bigger_lm = save_tiny(tmp_path / "bigger-lm", gemma3_dir, seed=0, text_hidden=96)
    with pytest.raises(mm.VisionMismatchError, match="hidden_size 64 does not fit .* hidden size 96"):
        mm.reassemble(work / "trained", bigger_lm, tmp_path / "b")


def test_reassemble_reads_transformers_5_layout_with_the_same_identity(tmp_path, exported, gemma3_dir):
    work, identity, _ = exported
    src = save_tiny(tmp_path / "t5-layout", gemma3_dir, seed=0, hub_layout=False)
    assert any(k.startswith("vision_tower.embeddings.") for k in load_file(src / "model.safetensors"))
    summary = mm.reassemble(work / "trained", src, tmp_path / "merged", identity=identity)
    assert summary.vision_sha256 == identity["sha256"]


def test_cli_verify_names_the_difference(exported, tmp_path, gemma3_dir):
    work, _, _ = exported
    other = save_tiny(tmp_path / "other", gemma3_dir, seed=2)
    cmd = [
        sys.executable,
        "-m",
        "recipes.multimodal",
        "verify",
        str(other),
        "--identity",
        str(work / "split" / mm.IDENTITY_FILE),
    ]
    bad = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "SHA-256 differs" in bad.stderr
    cmd[4] = str(work / "out")
    good = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    assert good.returncode == 0 and "vision tower matches" in good.stdout


def test_an_export_carries_its_identity_to_the_next_hop(exported, tmp_path):
    """A later stage (merge, RL) exporting from an earlier export is checked without being handed the identity."""
    import shutil

    from safetensors.torch import save_file

    work, identity, _ = exported
    assert mm.reassemble(work / "trained", work / "out", tmp_path / "next").vision_sha256 == identity["sha256"]
    tampered = shutil.copytree(work / "out", tmp_path / "tampered")
    weight_map = json.loads((tampered / "model.safetensors.index.json").read_text())["weight_map"]
    key = "multi_modal_projector.mm_input_projection_weight"
    shard = load_file(tampered / weight_map[key])
    shard[key] = shard[key].clone()
    shard[key][0, 0] += 1
    save_file(shard, tampered / weight_map[key], metadata={"format": "pt"})
    with pytest.raises(mm.VisionMismatchError, match=f"1 tensors have other values.*projector.{key.split('.')[-1]}"):
        mm.reassemble(work / "trained", tampered, tmp_path / "refused")
