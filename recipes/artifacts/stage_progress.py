"""Where a stage directory keeps its checkpoints and logs, and the resume point a stopped or dead stage records.

Shared by the job side (the stage runner, the local job) and the reporting side (`recipes.submit.status`, the launcher)
without either importing the other."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from recipes.artifacts.checkpoints import newest_complete
from recipes.core.run_layout import StageDir


def newest_log(stage_dir: Path) -> Path | None:
    """The most recently written log of a stage: in its own directory or in NeMo-Run's job directory for it."""
    candidates = [p for pattern in ("*.log", "logs/*.log", "*.out") for p in stage_dir.glob(pattern)]
    nemo_run = stage_dir.parent / ".nemo_run"
    if nemo_run.is_dir():
        candidates += [p for p in nemo_run.rglob("log*") if p.is_file() and p.parent.name == stage_dir.name]
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None)


def checkpoint_dir(stage_dir: Path) -> Path:
    cfg = OmegaConf.load(StageDir(stage_dir).resolved)
    save = OmegaConf.select(cfg, "checkpoint.save", default=None)
    return Path(save) if save else StageDir(stage_dir).checkpoints


def resume_point(stage_dir: Path) -> str:
    """Where a stopped or dead stage resumes from and its log, for its recorded error."""
    directory = checkpoint_dir(stage_dir)
    checkpoint = newest_complete(directory)
    found = f"step {checkpoint.step} in {checkpoint.path}" if checkpoint else f"none in {directory}"
    return f"newest complete checkpoint: {found}; log: {newest_log(stage_dir) or 'none written'}"
