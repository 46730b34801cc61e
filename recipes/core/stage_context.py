"""What a stage sees inside its job: the typed config and its run directory; where its input and output live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from recipes.core.run_layout import StageDir
from recipes.core.schema import RootConfig
from recipes.core.stage_specs import stage_spec


@dataclass(frozen=True)
class ArrayTask:
    """This process's place in a Slurm job array (stage.array): task `index` of `count`; 0 of 1 outside one."""

    index: int = 0
    count: int = 1

    @classmethod
    def from_environment(cls) -> ArrayTask:
        count = int(os.environ.get("SLURM_ARRAY_TASK_COUNT", 1))
        first = int(os.environ.get("SLURM_ARRAY_TASK_MIN", 0))
        return cls(int(os.environ.get("SLURM_ARRAY_TASK_ID", first)) - first, count)


def global_rank() -> int:
    """This process's rank in a multi-process job (torchrun's RANK, srun's SLURM_PROCID); 0 in a single process.
    Rank 0 alone records the stage's outcome: every rank of a training job runs the same stage code."""
    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", 0)))


@dataclass
class StageContext:
    cfg: RootConfig
    run_dir: Path

    @property
    def artifact_dir(self) -> Path:
        """Where the stage writes its payload; `version.json` sits in it."""
        return StageDir(self.run_dir).artifact

    def input_dir(self) -> Path | None:
        """The upstream artifact: run.input (a path) or the artifact of the pipeline's previous stage."""
        if self.cfg.run.input:
            return Path(self.cfg.run.input)
        if self.cfg.run.upstream:
            return StageDir(self.run_dir.parent / self.cfg.run.upstream).artifact
        return None

    def model_source(self) -> str:
        """The Hugging Face model a stage works on: run.input, else the upstream stage's output when that stage
        makes a Hugging Face model, else model.hf_id. Decided from the config alone (the upstream artifact may not
        exist yet when the launch is rendered), so render and run agree."""
        cfg = self.cfg
        if cfg.run.input:
            return cfg.run.input
        upstream = cfg.run.upstream
        if upstream and stage_spec(upstream).payload_kind == "hf":
            return str(self.input_dir())
        return cfg.model.hf_id
