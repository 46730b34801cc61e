"""The type of a stage: what the launcher, the job runner, preflight, the pipeline and the version records know
about it. Each stage module (`recipes/stages/<name>.py`) ends with its own `STAGE = StageSpec(...)`, and the registry
(`recipes.stages`) collects them; the core holds no instance, so it never imports a stage. A stage's resources
(image, nodes, GPUs, time, array spec) are configuration, in conf/stage/<name>.yaml."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from recipes.core.findings import Check

if TYPE_CHECKING:
    from recipes.core.stage_context import StageContext
    from recipes.core.status import StageOutcome

Engine = Literal["megatron_bridge", "nemo_rl", "mergekit", "transformers", "python"]
# What a version record's payload is; a release's variants are versions of their own (gguf among them).
PAYLOAD_KINDS = ("hf", "megatron", "indexed_dataset", "jsonl", "eval", "gguf", "release")

#: The job's work: None or StageOutcome.DONE when the artifact is complete; StageOutcome.PART_DONE from an array
#: task whose siblings complete it (only the one that completes it registers it).
Execute = Callable[["StageContext"], "StageOutcome | None"]
#: Writes the engine's own config into the run directory at launch, so a dry run shows what the job will run.
Render = Callable[["StageContext"], None]
#: Overrides the pipeline adds to this stage given the stage before it (its spec and run directory), e.g. eval's
#: `eval.model=<sft>/artifact/hf`. Overrides the user gave for the same keys win.
UpstreamOverrides = Callable[["StageSpec", Path], list[str]]


@dataclass(frozen=True, kw_only=True)
class StageSpec:
    name: str  # also the module's name (recipes/stages/<name>.py) and its conf/stage/<name>.yaml
    order: int  # its place in the chain: the registry lists the stages by it
    summary: str  # one line: its command's help
    engine: Engine  # megatron_bridge: one process per GPU (torchrun / one Slurm task each); nemo_rl: in Ray
    payload_kind: str  # one of PAYLOAD_KINDS: what `artifact/` holds when the stage succeeds
    execute: Execute
    render: Render | None = None
    checks: tuple[Check, ...] = ()  # its own preflight rules, run with the common ones
    upstream_overrides: UpstreamOverrides | None = None
    # What the job imports that the launcher's Python may lack (checked before a local run; the image has them).
    engine_modules: tuple[str, ...] = ()
    # Where in the artifact the stage writes a Hugging Face model (the runner adds `multimodal/` beside it).
    hf_export: str | None = None
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
        if "\n" in self.summary or not self.summary:
            raise ValueError(f"stage {self.name}: summary must be one line (its command's help)")
