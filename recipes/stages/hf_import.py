"""Stage hf_import: the released Hugging Face checkpoint -> a Megatron checkpoint to continue pre-training from.

For a multimodal Gemma 3 (model.multimodal) the checkpoint is first split (recipes.artifacts.multimodal.split): the
language
model is what gets trained; the vision tower and projector stay untouched beside it, with their SHA-256 identity,
for the release to put back. Artifact: `text/` (Gemma3ForCausalLM, Hugging Face), `vision/` and
`vision_identity.json` (multimodal only), `megatron/` (AutoBridge.import_ckpt of text/). Runs in the `train` image:
Megatron-Bridge builds the Gemma 3 model with Transformer Engine layers."""

from __future__ import annotations

import shutil
from pathlib import Path

from recipes.core.stage_context import StageContext
from recipes.core.stage_specs import StageSpec

TEXT, VISION = "text", "vision"


def local_copy(hf_id: str) -> Path:
    """A local directory of the checkpoint: the path itself, or a Hugging Face hub snapshot."""
    if Path(hf_id).is_dir():
        return Path(hf_id)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(hf_id))


def execute(ctx: StageContext) -> None:
    from megatron.bridge import AutoBridge

    from recipes.artifacts import multimodal
    from recipes.engines.bridge_config import megatron_checkpoint

    source, out = local_copy(ctx.cfg.model.hf_id), ctx.artifact_dir
    out.mkdir(parents=True, exist_ok=True)
    if ctx.cfg.model.multimodal:
        shutil.rmtree(out / "split", ignore_errors=True)  # a requeued attempt starts the split again
        multimodal.split(source, out / "split")
        for name in (TEXT, VISION, multimodal.IDENTITY_FILE):
            shutil.rmtree(out / name, ignore_errors=True)
            (out / "split" / name).rename(out / name)
        (out / "split").rmdir()
    else:
        shutil.rmtree(out / TEXT, ignore_errors=True)
        shutil.copytree(source, out / TEXT)
    AutoBridge.import_ckpt(str(out / TEXT), str(megatron_checkpoint(out)))


STAGE = StageSpec(
    name="hf_import",
    order=10,
    summary="a Hugging Face Gemma 3 checkpoint -> a Megatron checkpoint (+ the vision tower set aside)",
    engine="python",
    payload_kind="megatron",
    execute=execute,
    engine_modules=("megatron.bridge", "transformer_engine"),
)
