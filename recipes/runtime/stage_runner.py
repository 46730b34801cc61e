"""The one command every job runs: `python -m recipes.runtime.stage_runner --run-dir DIR`.

It reads DIR/resolved.yaml (written by the launcher on the submitting side), validates it against the schema
again (the job may run a different checkout than the one that rendered it), and calls the stage's `execute` (its
StageSpec's, from the registry recipes.stages).
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import os
import signal
import sys
import traceback
from pathlib import Path

from recipes.artifacts.versions import run_registry
from recipes.core.atomic import write_text_atomic
from recipes.core.config import register_resolvers, to_object
from recipes.core.run_layout import StageDir
from recipes.core.stage_context import ArrayTask, StageContext, global_rank
from recipes.runtime import os_errors
from recipes.stages import read_job_config, stage, stage_context


def load_context(run_dir: Path) -> StageContext:
    register_resolvers()
    cfg = to_object(read_job_config(StageDir(run_dir).resolved))
    return stage_context(cfg, run_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recipes.runtime.stage_runner",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run-dir", type=Path, required=True, help="run directory holding resolved.yaml")
    args = parser.parse_args(argv)
    run_dir = args.run_dir.resolve()
    started = _now()
    # Every rank of a multi-process (torchrun, srun) job runs the stage; rank 0 alone reports and registers it,
    # and any rank that fails says so.
    rank = global_rank()
    hold_job_lock(run_dir)
    if rank == 0:
        write_status(run_dir, "running", started=started)
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        ctx = load_context(run_dir)
        spec = stage(ctx.cfg.stage.name)
        # An array task whose siblings complete the artifact returns False: only the one that completes registers.
        if spec.execute(ctx) is not False and rank == 0:
            if spec.hf_export is not None:
                from recipes.artifacts.multimodal import reassemble_trained  # torch: only where a model is exported

                reassemble_trained(ctx.cfg.model, ctx.artifact_dir, ctx.artifact_dir / spec.hf_export)
            register_version(ctx, spec.payload_kind)
    except (Stopped, KeyboardInterrupt) as err:
        record_stopped(run_dir, rank, started, "SIGINT" if isinstance(err, KeyboardInterrupt) else str(err))
        return 1
    except OSError as err:  # a full disk, a path that vanished: one line naming the path and the free space
        line = f"{f'rank {rank}: ' if rank else ''}{os_errors.describe(err, run_dir)}"
        print(f"error: {line}", file=sys.stderr, flush=True)
        try:
            write_status(run_dir, "failed", started=started, error=line)
        except OSError:  # the status cannot be written either (the same full disk): the next reader records it
            pass
        return 1
    except BaseException as err:
        where = f"rank {rank}: " if rank else ""
        write_status(run_dir, "failed", started=started, error=f"{where}{type(err).__name__}: {err}")
        traceback.print_exc()
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    if rank == 0:
        write_status(run_dir, "succeeded", started=started)
    return 0


JOB_LOCK = ".job.lock"
_job_lock: list[int] = []  # the open descriptor: kept while this process (and its forked workers) live


def hold_job_lock(run_dir: Path) -> None:
    """A shared flock on <run dir>/.job.lock for as long as this job lives (every rank and array task shares it):
    the kernel drops it when the job dies, however it dies, so a reader can tell a live attempt from a dead one
    that could not record its end, with or without the launcher that started it."""
    fd = os.open(run_dir / JOB_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _job_lock.append(fd)


def job_alive(run_dir: Path) -> bool:
    """Whether a job of this run directory holds its job lock now."""
    try:
        fd = os.open(Path(run_dir) / JOB_LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class Stopped(BaseException):
    """SIGTERM: Slurm's warning before the time limit (cluster.signal_lead_s), scancel, preemption, or the local
    launcher stopping the stage. A BaseException, so that no `except Exception` in a stage swallows it."""


def _raise_stopped(signum: int, _frame) -> None:
    signal.signal(signum, signal.SIG_IGN)  # torchrun and Slurm may signal again while the stage unwinds
    raise Stopped(signal.Signals(signum).name)


def record_stopped(run_dir: Path, rank: int, started: str, by: str) -> None:
    """A stage ended by a signal before it finished: stopped, resumable, with where it resumes from."""
    from recipes.artifacts.stage_progress import resume_point

    where = f"rank {rank}: " if rank else ""
    write_status(
        run_dir,
        "stopped",
        started=started,
        error=f"{where}stopped by {by}; {resume_point(run_dir)}; run the stage again to resume",
    )


def register_version(ctx: StageContext, payload_kind: str) -> None:
    """Record the stage's artifact as a version (parents: the upstream artifact when it has a record). A rerun or
    requeued attempt registers the same directory again: the registry keeps its version when nothing changed."""
    from recipes.artifacts.versions import RECORD_FILE

    if not ctx.artifact_dir.is_dir():
        return
    upstream = ctx.input_dir()
    parents = [str(upstream)] if upstream and (upstream / RECORD_FILE).is_file() else []
    manifest = json.loads(StageDir(ctx.run_dir).manifest.read_text())
    vision = vision_identity_summary(ctx.artifact_dir)
    if vision:
        manifest["vision"] = vision
    run_registry(ctx.cfg).register(
        ctx.artifact_dir,
        name=f"{ctx.cfg.run.name}-{ctx.cfg.stage.name}",
        stage=ctx.cfg.stage.name,
        payload_kind=payload_kind,
        parents=parents,
        manifest=manifest,
    )


def vision_identity_summary(artifact_dir: Path) -> dict:
    """The untouched vision tower's identity (SHA-256 over its tensors) for the version record: hf_import's
    `vision_identity.json`, or the one an exporting stage's `multimodal/` carries. Empty for a text-only model."""
    from recipes.artifacts.multimodal import IDENTITY_FILE

    for path in (artifact_dir / IDENTITY_FILE, artifact_dir / "multimodal" / IDENTITY_FILE):
        if path.is_file():
            identity = json.loads(path.read_text())
            return {
                "sha256": identity["sha256"],
                "tensors": len(identity["tensors"]),
                "identity_file": str(path.relative_to(artifact_dir)),
            }
    return {}


def write_status(run_dir: Path, state: str, **extra: str) -> None:
    """The stage's own record of how its last attempt ended (local executors report no job state); one file per
    task in a Slurm job array."""
    task = ArrayTask.from_environment()
    status = {
        "state": state,
        "updated": _now(),
        "restart_count": int(os.environ.get("SLURM_RESTART_COUNT", 0)),
        "slurm_job_id": os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID"),
        **extra,
    }
    path = StageDir(run_dir).status
    if task.count > 1:
        status.update(array_task=task.index, array_task_count=task.count)
        path = StageDir(run_dir).task_status(task.index)
    write_text_atomic(path, json.dumps(status, indent=2) + "\n")


class UnreadableStatus(ValueError):
    """A status record that is not the JSON object the job writes; the message names the file and the repair."""


def _load_status(path: Path) -> dict:
    try:
        status = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        status = err
    if not isinstance(status, dict) or not isinstance(status.get("state"), str):
        why = f"not valid JSON ({status})" if isinstance(status, Exception) else "holds no state"
        raise UnreadableStatus(
            f"{path}: {why}, e.g. truncated by a full disk; fix: delete it and run the stage "
            "again (it resumes from its committed work)"
        )
    return status


def read_status(run_dir: Path) -> dict:
    """The stage's state; for a job array, all tasks together: failed if one failed, succeeded when all did."""
    tasks = [_load_status(p) for p in StageDir(run_dir).task_statuses()]
    if tasks:
        failed = [t for t in tasks if t["state"] == "failed"]
        done = len(tasks) == tasks[0]["array_task_count"] and all(t["state"] == "succeeded" for t in tasks)
        state = "failed" if failed else "succeeded" if done else "running"
        return {
            **(failed[0] if failed else tasks[-1]),
            "state": state,
            "tasks": len(tasks),
            "restart_count": max(t["restart_count"] for t in tasks),
        }
    path = StageDir(run_dir).status
    return _load_status(path) if path.exists() else {"state": "not started"}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


if __name__ == "__main__":
    sys.exit(main())
