"""Stage merge: merge Hugging Face checkpoints with mergekit (recipes.engines.mergekit_merge) from the `merge` config "
"section;
model references may be paths or version ids. The tokenizer and chat template are carried over."""

from __future__ import annotations

import dataclasses

from recipes.artifacts.versions import run_registry
from recipes.core.findings import Finding
from recipes.core.schema import MergeSettings, RootConfig
from recipes.core.stage_context import StageContext
from recipes.core.stage_specs import StageSpec


def execute(ctx: StageContext) -> None:
    from recipes.engines.mergekit_merge import run

    settings = dataclasses.replace(ctx.cfg.merge, out=str(ctx.artifact_dir))
    run(settings, resolve=run_registry(ctx.cfg).resolve)


def check_merge(cfg: RootConfig) -> list[Finding]:
    from recipes.engines.mergekit_merge import unfilled

    def override(key: str) -> str:  # models[1].path -> models.1.path, as Hydra takes it
        return key.replace("[", ".").replace("]", "")

    return [
        Finding(
            f"merge.{key}",
            f"still the preset's placeholder {value!r}",
            f"set merge.{override(key)}=<model path or version id>",
        )
        for key, value in unfilled(cfg.merge).items()
    ]


STAGE = StageSpec(
    name="merge",
    order=50,
    summary="merge Hugging Face checkpoints with mergekit",
    engine="mergekit",
    payload_kind="hf",
    execute=execute,
    checks=(check_merge,),
    hf_export=".",
    sections={"merge": MergeSettings},
)
