"""Merging multimodal Gemma 3 checkpoints: the language models are merged, the vision tower is carried unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from recipes.artifacts import multimodal as mm
from recipes.engines.mergekit_merge import IncompatibleModelsError, MergeModel, MergeSettings, run
from tests.helpers.tiny_gemma3 import tensors_by_part

VISION = {"vision", "projector"}


def _copy_with_noise(src: Path, out: Path, module: str) -> Path:
    """A copy of the tiny model whose `module` parameters (language_model or vision_tower) got random noise,
    saved by transformers (its own tensor naming, not the hub's), with the tokenizer and processor files."""
    from transformers import Gemma3ForConditionalGeneration

    shutil.copytree(src, out)
    for weights in out.glob("*.safetensors"):
        weights.unlink()
    model = Gemma3ForConditionalGeneration.from_pretrained(src, dtype=torch.bfloat16)
    torch.manual_seed(1)
    with torch.no_grad():
        for param in getattr(model.model, module).parameters():
            param.add_(torch.randn_like(param) * 0.05)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tuned_lm(tiny_multimodal_dir, tmp_path_factory) -> Path:
    return _copy_with_noise(tiny_multimodal_dir, tmp_path_factory.mktemp("tuned") / "lm", "language_model")


def test_linear_merge_averages_language_models_and_keeps_vision_bit_identical(tmp_path, tiny_multimodal_dir, tuned_lm):
    from transformers import Gemma3ForConditionalGeneration

    settings = MergeSettings(
        method="linear",
        models=[MergeModel(str(tiny_multimodal_dir), weight=0.5), MergeModel(str(tuned_lm), weight=0.5)],
        dtype="float32",
        out_dtype="float32",
        out=str(tmp_path / "merged"),
    )
    out = run(settings)

    source, tuned, merged = (
        tensors_by_part(d, VISION | {"text", "lm_head"}) for d in (tiny_multimodal_dir, tuned_lm, out)
    )
    vision_keys = {k for k in source if k[0] in VISION}
    assert vision_keys and vision_keys == {k for k in merged if k[0] in VISION}
    for key in vision_keys:
        assert merged[key].dtype == source[key].dtype == torch.bfloat16, key
        assert torch.equal(merged[key].view(torch.uint8), source[key].view(torch.uint8)), key

    text_keys = {k for k in merged if k[0] not in VISION}
    assert text_keys == {k for k in source if k[0] not in VISION}
    changed = 0
    for key in text_keys:
        a, b = source[key].float(), tuned[key].float()
        changed += not torch.equal(a, b)
        assert merged[key].dtype == torch.float32, key
        torch.testing.assert_close(merged[key], 0.5 * a + 0.5 * b, rtol=0, atol=0, msg=str(key))
    assert changed == len(text_keys), "every language-model tensor of the tuned copy should differ"

    assert mm.verify(out, mm.vision_identity(tiny_multimodal_dir))
    for name in ("config.json", "tokenizer.json", "chat_template.jinja", mm.IDENTITY_FILE, "mergekit_config.yml"):
        assert (out / name).is_file(), name
    assert not list(tmp_path.glob(".merged-split-*")), "temporary split directories must be removed"
    model, info = Gemma3ForConditionalGeneration.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    ids = torch.tensor([[2, 105, 9259, 1902, 106]])
    assert torch.isfinite(model(input_ids=ids).logits).all()


def test_input_with_another_vision_tower_is_refused_naming_it(tmp_path, tiny_multimodal_dir, tuned_lm):
    other_vision = _copy_with_noise(tiny_multimodal_dir, tmp_path / "other_vision", "vision_tower")
    settings = MergeSettings(
        method="task_arithmetic",
        base_model=str(tiny_multimodal_dir),
        models=[MergeModel(str(tuned_lm)), MergeModel(str(other_vision))],
        out=str(tmp_path / "o"),
    )
    with pytest.raises(mm.VisionMismatchError) as err:
        run(settings)
    message = str(err.value)
    assert str(other_vision) in message and str(tuned_lm) not in message
    assert "same multimodal checkpoint" in message and "SHA-256 differs" in message
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o-split-*"))


def test_multimodal_and_text_only_inputs_are_refused(tmp_path, tiny_multimodal_dir, gemma3_dir):
    settings = MergeSettings(
        method="linear",
        models=[MergeModel(str(tiny_multimodal_dir)), MergeModel(str(gemma3_dir))],
        out=str(tmp_path / "o"),
    )
    with pytest.raises(IncompatibleModelsError, match="mixed with text-only") as err:
        run(settings)
    assert f"multimodal inputs ['{tiny_multimodal_dir}']" in str(err.value)
    assert f"text-only inputs ['{gemma3_dir}']" in str(err.value)
    assert not (tmp_path / "o").exists()
