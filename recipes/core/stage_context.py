"""What a stage sees inside its job: the typed config and its run directory; where its input and output live."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from recipes.core.run_layout import StageDir
from recipes.core.schema import RootConfig


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


@contextlib.contextmanager
def array_lock(path: Path, task: ArrayTask, wait_s: float):
    """An exclusive lock file naming its task, for the one task of a job array that finishes the work; a requeued
    task takes back its own lock (its holder was killed). Waits up to `wait_s` for another holder."""
    owner, deadline = str(task.index), time.monotonic() + wait_s
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.write(fd, owner.encode())
            os.close(fd)
            break
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):  # released between the two calls: try again
                holder = path.read_text()
                if holder == owner:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{path} held by array task {holder} for {wait_s:.0f} s; if that task is "
                        "gone, delete the file and requeue"
                    ) from None
        time.sleep(1)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def global_rank() -> int:
    """This process's rank in a multi-process job (torchrun's RANK, srun's SLURM_PROCID); 0 in a single process.
    Rank 0 alone records the stage's outcome: every rank of a training job runs the same stage code."""
    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", 0)))


@dataclass
class StageContext:
    cfg: RootConfig
    run_dir: Path
    # The payload kind of run.upstream's stage; the registry fills it in (recipes.stages.stage_context), since the
    # core knows no stage. Needed only where run.upstream is set and the stage asks for its model_source().
    upstream_payload: str | None = None

    def launch_key(self) -> str:
        """Which launch a job array's task belongs to (its resolved config and the manifest's creation time): a
        record left by an earlier launch into the same directory is not this one's."""
        layout = StageDir(self.run_dir)
        created = json.loads(layout.manifest.read_text())["created"]
        return hashlib.sha256(layout.resolved.read_bytes() + created.encode()).hexdigest()[:16]

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
        if upstream and self.upstream_payload is None:
            raise ValueError(
                f"StageContext.upstream_payload: unset for run.upstream={upstream}; "
                "build the context with recipes.stages.stage_context(cfg, run_dir)"
            )
        if upstream and self.upstream_payload == "hf":
            return str(self.input_dir())
        return cfg.model.hf_id
