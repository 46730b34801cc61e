"""What the stages' own preflight checks (and preflight's common rules) share: counts, and inputs an earlier stage
of the pipeline writes. Not a stage: it defines no STAGE."""

from __future__ import annotations

import os
from pathlib import Path

from recipes.core.config import gpus_per_node
from recipes.core.findings import Finding
from recipes.core.schema import RootConfig


def requested_gpus(cfg: RootConfig) -> int:
    return cfg.stage.nodes * gpus_per_node(cfg)


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def made_by_an_earlier_stage(cfg: RootConfig, path: str) -> bool:
    """Inside the run directory of a stage that comes before this one in pipeline.stages."""
    stages = list(cfg.pipeline.stages)
    if cfg.stage.name not in stages:
        return False
    run_root = Path(cfg.launch.root).resolve() / cfg.run.name
    return any(
        Path(path).resolve().is_relative_to(run_root / stage) for stage in stages[: stages.index(cfg.stage.name)]
    )


def missing_path(cfg: RootConfig, key: str, value: str, what: str, fix: str) -> Finding | None:
    """A missing input is an error, dry run included, unless an earlier stage of this pipeline makes it: then it is
    accepted inside a pipeline launch (run.upstream set) and a warning in a dry run of the stage alone."""
    if made_by_an_earlier_stage(cfg, value):
        if cfg.run.upstream is not None:
            return None
        if cfg.launch.dryrun:
            return Finding(key, f"{what}; an earlier stage of pipeline.stages makes it", fix, "warning")
    return Finding(key, what, fix)


def held_out_leaves_a_step(key: str, held_out: int, paths: list, per_step: int, what: str) -> list[Finding]:
    """The job holds `held_out` rows of `paths` out for validation (recipes.posttrain.holdout): where the files
    are already there, at least one step's rows must remain (the job would stop on it after the queue wait)."""
    if not all(path and os.path.isfile(path) for path in paths):
        return []  # check_paths names a missing file
    rows = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            rows += sum(1 for line in f if line.strip())
    if rows - held_out >= per_step:
        return []
    return [
        Finding(
            key,
            f"{held_out} of the {rows} {what} held out for validation leave {rows - held_out}, "
            f"fewer than one step's {per_step}",
            f"lower {key} or add {what}",
        )
    ]
