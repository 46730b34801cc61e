"""What a launcher backend is given and returns, and how each engine's job is shaped, once for every backend.

A backend (recipes.submit.local_backend, recipes.submit.slurm_backend) renders the stages' launches into their run
directories (a dry run) or runs them, each after the previous one succeeded; either way every job runs
`python -m recipes.runtime.stage_runner --run-dir DIR`. The shape of that job (one process, one per GPU, a Ray
cluster) follows from the stage's engine through `ENGINE_SHAPES`, so the two backends cannot disagree on it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from recipes.core.config import gpus_per_node
from recipes.core.schema import RootConfig
from recipes.core.stage_specs import Engine
from recipes.core.status import StatusRecord
from recipes.stages import stage as stage_spec
from recipes.submit import preflight


class LaunchShape(enum.Enum):
    ONE_PROCESS = "one process"
    # torchrun here, one Slurm task per GPU there: every rank runs the stage, rank 0 records it
    PROCESS_PER_GPU = "one process per GPU"
    # on Slurm, NeMo-Run's Ray-on-Slurm template over the allocation; here one process (the engine starts Ray itself)
    RAY = "Ray cluster"


ENGINE_SHAPES: dict[Engine, LaunchShape] = {
    "megatron_bridge": LaunchShape.PROCESS_PER_GPU,
    "nemo_rl": LaunchShape.RAY,
    "mergekit": LaunchShape.ONE_PROCESS,
    "transformers": LaunchShape.ONE_PROCESS,
    "python": LaunchShape.ONE_PROCESS,
}


def launch_shape(cfg: RootConfig) -> LaunchShape:
    return ENGINE_SHAPES[stage_spec(cfg.stage.name).engine]


def ranks_per_node(cfg: RootConfig) -> int:
    """Processes per node of a one-per-GPU stage (0 where the machine has no GPU); 0 for every other shape."""
    return gpus_per_node(cfg) if launch_shape(cfg) is LaunchShape.PROCESS_PER_GPU else 0


@dataclass
class StageLaunch:
    """One stage, composed and checked, with its run directory written."""

    cfg: RootConfig
    run_dir: Path
    report: preflight.PlanReport

    @property
    def name(self) -> str:
        return self.cfg.stage.name

    @property
    def runs_here(self) -> bool:
        """False where the stage needs CUDA and this machine has none (it is then rendered, not run)."""
        return (
            self.cfg.cluster.executor != "local" or not self.cfg.stage.needs_gpu or self.cfg.cluster.gpus_per_node > 0
        )


@dataclass
class Submission:
    launches: list[StageLaunch]
    rendered: dict[str, Path]  # stage (or "pipeline", the chain) -> its rendered launch file
    # The final records of the stages followed to their end, in order, up to the first that did not succeed;
    # empty for a dry run or a detached submission.
    ended: dict[str, StatusRecord] = field(default_factory=dict)


class Backend(Protocol):
    def render(self, launches: list[StageLaunch]) -> dict[str, Path]:
        """Write what each stage's job will run into its run directory; nothing runs (launch.dryrun)."""
        ...

    def run(self, launches: list[StageLaunch]) -> Submission:
        """Run the stages, each after the previous one succeeded, and follow them to their end unless detached."""
        ...
