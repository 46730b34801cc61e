"""The one stage registry: what the launcher, the job runner, preflight and the version records know about a stage.

A stage's code facts live here, once; its resources (image, nodes, GPUs, time, array spec) are configuration, in
conf/stage/<name>.yaml. What the stage does is `recipes.stages.<name>`: `execute(ctx)`, and `render(ctx)` where
`renders` says its engine reads a config the launch writes. Nothing here imports the stage code, so the submit side
composes, checks and renders without the engines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from recipes.core.schema import (
    TRAINING_SECTIONS,
    APOConfig,
    ClairConfig,
    DataPrepConfig,
    EvalConfig,
    LoggerConfig,
    MergeSettings,
    ReleaseSettings,
    RLConfig,
    SelectConfig,
)

Engine = Literal["megatron_bridge", "nemo_rl", "mergekit", "transformers", "python"]
# What a version record's payload is; a release's variants are versions of their own (gguf among them).
PAYLOAD_KINDS = ("hf", "megatron", "indexed_dataset", "jsonl", "eval", "gguf", "release")


@dataclass(frozen=True)
class StageSpec:
    name: str
    engine: Engine  # megatron_bridge: one process per GPU (torchrun / one Slurm task each); nemo_rl: in Ray
    payload_kind: str  # one of PAYLOAD_KINDS: what `artifact/` holds when the stage succeeds
    # What the job imports that the launcher's Python may lack (checked before a local run; the image has them).
    engine_modules: tuple[str, ...] = ()
    # Where in the artifact the stage writes a Hugging Face model (the runner adds `multimodal/` beside it).
    hf_export: str | None = None
    renders: bool = False  # the stage module has render(ctx), called at launch so a dry run shows the engine config
    array: bool = False  # execute() splits its work across a Slurm job array (stage.array)
    # Its artifact is data, not a model: the pipeline gives the next stage this stage's own upstream model (select).
    keeps_upstream_model: bool = False
    # Config keys naming files the stage reads (a path, or a mapping of names to paths): preflight checks they exist.
    input_paths: tuple[str, ...] = ()
    # The config sections the stage owns, name -> dataclass: its job's config is RootConfig's shared sections plus
    # these; an override of a section only other stages own is refused. Two stages may own one section (same type).
    sections: Mapping[str, type] = field(default_factory=dict)

    def __post_init__(self):
        if self.payload_kind not in PAYLOAD_KINDS:
            raise ValueError(f"stage {self.name}: payload_kind={self.payload_kind!r}; one of {PAYLOAD_KINDS}")

    @property
    def module(self) -> str:
        """The module that holds execute(ctx) (and render(ctx)): imported only where the stage runs or renders."""
        return f"recipes.stages.{self.name}"


_MEGATRON = ("megatron.bridge", "transformer_engine")
_TRAINING_INPUTS = ("checkpoint.pretrained_checkpoint", "dataset.blend")
_NEMO_RL = {"logger": LoggerConfig}  # NeMo-RL's logger settings come from the same section as Bridge's
SPECS: dict[str, StageSpec] = {
    spec.name: spec
    for spec in (
        StageSpec("hf_import", "python", "megatron", engine_modules=_MEGATRON),
        StageSpec("data_prep", "python", "indexed_dataset", array=True, sections={"data_prep": DataPrepConfig}),
        StageSpec(
            "cpt",
            "megatron_bridge",
            "megatron",
            engine_modules=_MEGATRON,
            input_paths=_TRAINING_INPUTS,
            sections=TRAINING_SECTIONS,
        ),
        StageSpec(
            "sft",
            "megatron_bridge",
            "megatron",
            engine_modules=_MEGATRON,
            hf_export="hf",
            input_paths=(*_TRAINING_INPUTS, "dataset.packed_data", "model.hf_text_checkpoint"),
            sections=TRAINING_SECTIONS,
        ),
        StageSpec("merge", "mergekit", "hf", hf_export=".", sections={"merge": MergeSettings}),
        StageSpec(
            "rl",
            "nemo_rl",
            "hf",
            engine_modules=("nemo_rl",),
            hf_export=".",
            renders=True,
            sections={"rl": RLConfig, **_NEMO_RL},
        ),
        StageSpec(
            "select",
            "transformers",
            "jsonl",
            engine_modules=("torch", "transformers", "peft"),
            array=True,
            keeps_upstream_model=True,
            input_paths=("select.candidates", "select.targets"),
            sections={"select": SelectConfig},
        ),
        StageSpec(
            "clair", "python", "jsonl", renders=True, input_paths=("clair.prompts",), sections={"clair": ClairConfig}
        ),
        StageSpec(
            "apo",
            "nemo_rl",
            "hf",
            engine_modules=("nemo_rl",),
            hf_export=".",
            renders=True,
            input_paths=("apo.pairs",),
            sections={"apo": APOConfig, **_NEMO_RL},
        ),
        StageSpec("eval", "transformers", "eval", renders=True, sections={"eval": EvalConfig}),
        StageSpec(
            "release",
            "python",
            "release",
            input_paths=("model.hf_text_checkpoint",),
            sections={"release": ReleaseSettings},
        ),
    )
}
STAGES = tuple(SPECS)  # in pipeline order


def stage_spec(name: str) -> StageSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"stage: unknown stage {name!r}; choose one of {', '.join(STAGES)}") from None
