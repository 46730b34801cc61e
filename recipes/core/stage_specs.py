"""The one stage registry: what the launcher, the job runner, preflight and the version records know about a stage.

A stage's code facts live here, once; its resources (image, nodes, GPUs, time, array spec) are configuration, in
conf/stage/<name>.yaml. What the stage does is `recipes.stages.<name>`: `execute(ctx)`, and `render(ctx)` where
`renders` says its engine reads a config the launch writes. Nothing here imports the stage code, so the submit side
composes, checks and renders without the engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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

    def __post_init__(self):
        if self.payload_kind not in PAYLOAD_KINDS:
            raise ValueError(f"stage {self.name}: payload_kind={self.payload_kind!r}; one of {PAYLOAD_KINDS}")

    @property
    def module(self) -> str:
        """The module that holds execute(ctx) (and render(ctx)): imported only where the stage runs or renders."""
        return f"recipes.stages.{self.name}"


_MEGATRON = ("megatron.bridge", "transformer_engine")
_TRAINING_INPUTS = ("checkpoint.pretrained_checkpoint", "dataset.blend")
SPECS: dict[str, StageSpec] = {
    spec.name: spec
    for spec in (
        StageSpec("hf_import", "python", "megatron", engine_modules=_MEGATRON),
        StageSpec("data_prep", "python", "indexed_dataset", array=True),  # data.sources: globs, checked by preflight
        StageSpec("cpt", "megatron_bridge", "megatron", engine_modules=_MEGATRON, input_paths=_TRAINING_INPUTS),
        StageSpec(
            "sft",
            "megatron_bridge",
            "megatron",
            engine_modules=_MEGATRON,
            hf_export="hf",
            input_paths=(*_TRAINING_INPUTS, "dataset.packed_data", "model.hf_text_checkpoint"),
        ),
        StageSpec("merge", "mergekit", "hf", hf_export="."),
        StageSpec("rl", "nemo_rl", "hf", engine_modules=("nemo_rl",), hf_export=".", renders=True),
        StageSpec(
            "select",
            "transformers",
            "jsonl",
            engine_modules=("torch", "transformers", "peft"),
            array=True,
            keeps_upstream_model=True,
            input_paths=("select.candidates", "select.targets"),
        ),
        StageSpec("clair", "python", "jsonl", renders=True, input_paths=("clair.prompts",)),
        StageSpec(
            "apo", "nemo_rl", "hf", engine_modules=("nemo_rl",), hf_export=".", renders=True, input_paths=("apo.pairs",)
        ),
        StageSpec("eval", "transformers", "eval", renders=True),
        StageSpec("release", "python", "release", input_paths=("model.hf_text_checkpoint",)),
    )
}
STAGES = tuple(SPECS)  # in pipeline order


def stage_spec(name: str) -> StageSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"stage: unknown stage {name!r}; choose one of {', '.join(STAGES)}") from None
