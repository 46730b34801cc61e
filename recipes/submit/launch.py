"""From composed configs to run directories, then to a backend that renders (dryrun) or runs them: local child
processes (recipes.submit.local_backend) or Slurm jobs through NeMo-Run (recipes.submit.slurm_backend).

The launcher knows nothing about what a stage does: every job runs
`python -m recipes.runtime.stage_runner --run-dir DIR`, which reads DIR/resolved.yaml. A run directory holds
resolved.yaml, manifest.json, the rendered launch (sbatch script or local command), NeMo-Run's experiment files
and, once the stage ran, its artifact.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

import yaml
from omegaconf import OmegaConf

from recipes.artifacts import manifest
from recipes.core.config import to_object
from recipes.core.run_layout import StageDir
from recipes.core.schema import RootConfig
from recipes.core.status import State
from recipes.stages import compose, stage_context
from recipes.stages import stage as stage_spec
from recipes.submit import preflight, run_lock
from recipes.submit.backend import Backend, StageLaunch, Submission
from recipes.submit.local_backend import LocalBackend
from recipes.submit.slurm_backend import SlurmBackend


def run_dir_of(cfg: RootConfig) -> Path:
    return Path(cfg.launch.root).resolve() / cfg.run.name / cfg.stage.name


def prepare(
    stage: str | None, overrides: list[str], parents: Sequence[str] = (), pipeline: Sequence[str] = ()
) -> StageLaunch:
    """Compose, preflight, and write resolved.yaml + manifest.json. Raises ConfigError / PreflightError.
    `pipeline`: the stages launched with it, whose sections the overrides may set."""
    raw = compose(stage, overrides, pipeline)
    resolve_source_paths(raw)
    cfg = to_object(raw)
    local_gpu_stage_without_gpu = (
        cfg.cluster.executor == "local" and cfg.stage.needs_gpu and cfg.cluster.gpus_per_node == 0
    )
    report = preflight.plan(cfg)
    errors = [f for f in report.errors if not (local_gpu_stage_without_gpu and f.field == "stage.nodes")]
    if errors:
        raise preflight.PreflightError(errors)
    run_dir = run_dir_of(cfg)
    try:  # before anything is written there: one live launcher per run directory
        run_lock.hold(run_dir)
    except run_lock.RunDirBusy as err:
        raise preflight.PreflightError(
            [
                preflight.Finding(
                    "run.name", str(err), "wait for that run to end, or launch under another run.name or launch.root"
                )
            ]
        ) from None
    from recipes.submit.status import settle_abandoned

    settle_abandoned(run_dir, "a new launch took its run lock, which no launcher held")  # the last attempt's end
    resolved = OmegaConf.to_container(raw, resolve=True)
    resolved = manifest.redact(resolved, cfg.cluster.secrets)
    StageDir(run_dir).resolved.write_text(yaml.safe_dump(resolved, sort_keys=False))
    manifest.write(
        StageDir(run_dir).manifest, manifest.build(resolved, list(overrides), list(parents)), cfg.cluster.secrets
    )
    # A stage whose engine reads its own config format renders it now, so a dry run shows what the job will run.
    render = stage_spec(cfg.stage.name).render
    if render is not None:
        render(stage_context(cfg, run_dir))
    return StageLaunch(cfg=cfg, run_dir=run_dir, report=report)


def resolve_source_paths(raw) -> None:
    """Relative data.sources paths made absolute from where the launcher runs, once, at submission: the job runs
    from the repository root (or on another node), where a relative path would name something else. A path that
    matches nothing here (a hub dataset id, a path only the cluster has) is left as it is, for check_paths."""
    for source in raw.data.sources:
        path = str(source.get("path") or "")
        if path and not os.path.isabs(path) and not path.startswith("~") and glob.glob(path):
            source.path = os.path.abspath(path)


BACKENDS: dict[str, type[Backend]] = {"local": LocalBackend, "slurm": SlurmBackend}  # by cluster.executor


def submit(launches: list[StageLaunch], dryrun: bool) -> Submission:
    """Run the stages, each after the previous one succeeded (with dryrun, render them into their run directories
    instead); raise StageFailed for the first that did not succeed."""
    executor = launches[0].cfg.cluster.executor
    if executor not in BACKENDS:
        raise preflight.PreflightError(
            [
                preflight.Finding(
                    "cluster.executor", f"{executor!r} is no launcher backend", f"one of {', '.join(BACKENDS)}"
                )
            ]
        )
    backend = BACKENDS[executor]()
    if dryrun:
        return Submission(launches, backend.render(launches))
    submission = backend.run(launches)
    for launch in launches:
        status = submission.ended.get(launch.name)
        if status is not None and status.state is not State.SUCCEEDED:
            raise StageFailed(launch.name, launch.run_dir, status.error or status.state.value)
    return submission


class StageFailed(Exception):
    def __init__(self, stage: str, run_dir: Path, error: str):
        super().__init__(f"stage {stage} failed: {error} (logs: {run_dir})")
