"""Stage release: the release variants of the stage's model (run.input, the upstream model, or model.hf_id) with
recipes.artifacts.release_variants: HF BF16 first, then the variants in release.variants, each perplexity-checked
against BF16 on
release.quality_texts (JSONL globs of {"text", "lang"})
and registered as a version of its own. For a multimodal Gemma 3 the released model is the full
Gemma3ForConditionalGeneration: the trained language model reassembled with the vision tower hf_import set aside
(model.hf_text_checkpoint), checked against its recorded identity."""

from __future__ import annotations

import dataclasses
import glob
from pathlib import Path

from recipes.artifacts.versions import run_registry
from recipes.core.schema import ReleaseSettings
from recipes.core.stage_context import StageContext
from recipes.core.stage_specs import StageSpec


def execute(ctx: StageContext) -> None:
    from recipes.artifacts.multimodal import reassemble_trained  # torch: only where the job runs
    from recipes.artifacts.release_variants import run

    texts = sorted(path for pattern in ctx.cfg.release.quality_texts for path in glob.glob(pattern))
    settings = dataclasses.replace(ctx.cfg.release, quality_texts=texts)
    source = reassemble_trained(ctx.cfg.model, ctx.artifact_dir, Path(ctx.model_source()))
    results = run(settings, str(source), ctx.artifact_dir, run_registry(ctx.cfg))
    for result in results:
        print(f"release {result.variant}: {result.status} -> {result.path} ({result.version_id})", flush=True)


STAGE = StageSpec(
    name="release",
    order=110,
    summary="the release variants of the stage's model (HF BF16, GGUF, quantised)",
    engine="python",
    payload_kind="release",
    execute=execute,
    input_paths=("model.hf_text_checkpoint",),
    sections={"release": ReleaseSettings},
)
