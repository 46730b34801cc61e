"""The one command every job runs: `python -m recipes.runtime.stage_runner --run-dir DIR`.

It reads DIR/resolved.yaml (written by the launcher on the submitting side), validates it against the schema
again (the job may run a different checkout than the one that rendered it), calls the stage's `execute` (its
StageSpec's, from the registry recipes.stages), and records how it ended (recipes.core.status).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import traceback
from pathlib import Path

from recipes.artifacts.versions import run_registry
from recipes.core.config import register_resolvers, to_object
from recipes.core.run_layout import StageDir
from recipes.core.stage_context import StageContext, global_rank
from recipes.core.status import StageOutcome, State, hold_job_lock, now, write_status
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
    started = now()
    # Every rank of a multi-process (torchrun, srun) job runs the stage; rank 0 alone reports and registers it,
    # and any rank that fails says so.
    rank = global_rank()
    hold_job_lock(run_dir)
    if rank == 0:
        write_status(run_dir, State.RUNNING, started=started)
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        ctx = load_context(run_dir)
        spec = stage(ctx.cfg.stage.name)
        outcome = StageOutcome.of(spec.execute(ctx), spec.name)
        # An array task whose sibling completes the artifact is done with its part: only the one that completes it
        # registers it.
        if outcome is StageOutcome.DONE and rank == 0:
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
            write_status(run_dir, State.FAILED, started=started, error=line)
        except OSError:  # the status cannot be written either (the same full disk): the next reader records it
            pass
        return 1
    except BaseException as err:
        where = f"rank {rank}: " if rank else ""
        write_status(run_dir, State.FAILED, started=started, error=f"{where}{type(err).__name__}: {err}")
        traceback.print_exc()
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    if rank == 0:
        write_status(run_dir, State.SUCCEEDED, started=started)
    return 0


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
        State.STOPPED,
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


if __name__ == "__main__":
    sys.exit(main())
