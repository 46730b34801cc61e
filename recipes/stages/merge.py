"""Stage merge: merge Hugging Face checkpoints with mergekit (recipes.engines.mergekit_merge) from the `merge` config section;
model references may be paths or version ids. The tokenizer and chat template are carried over."""

from __future__ import annotations

import dataclasses

from recipes.artifacts.versions import run_registry
from recipes.core.stage_context import StageContext


def execute(ctx: StageContext) -> None:
    from recipes.engines.mergekit_merge import run

    settings = dataclasses.replace(ctx.cfg.merge, out=str(ctx.artifact_dir))
    run(settings, resolve=run_registry(ctx.cfg).resolve)
