"""Where a run stands: per stage, the Slurm state, restarts, newest complete checkpoint, last step/loss, log tail.

A run lives in `<launch.root>/<run>/`, one directory per stage (resolved.yaml, manifest.json, status.json written
by the job, recipes.core.status) and NeMo-Run's experiment files in `<launch.root>/<run>/.nemo_run/`. The Slurm job id
of a stage comes from its status.json (written from inside the job) or, before the job has started, from
NeMo-Run's `.nemo_run/.slurm_jobs` ledger (`<job id> = <ls term>,<local job dir>,...`, job dir named after the
stage).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from recipes.artifacts.checkpoints import newest_complete
from recipes.artifacts.stage_progress import checkpoint_dir, newest_log
from recipes.core.config import default_launch_root
from recipes.core.run_layout import StageDir
from recipes.core.status import State, StatusRecord, read_status, write_status
from recipes.submit import run_lock

# Megatron's training log line, e.g.
# " [2026-11-22 10:00:00] iteration      120/   10000 | consumed samples:  3840 | ... | lm loss: 2.345678E+00 | ..."
_ITERATION = re.compile(r"iteration\s+(\d+)/\s*(\d+)\s*\|.*?lm loss:\s*([-+0-9.eE]+|nan|inf)")
# sacct (22.05) has no restart-count field; with --duplicates every requeue of a job is one more row, oldest first.
SACCT_FORMAT = "JobID,State,Elapsed,ExitCode"


@dataclass
class StatusSettings:
    run: str = ""  # a run directory, or a run name under root
    root: str | None = None  # None: $SEALION_RUNS, else <repo>/runs (launch.root's default)
    tail: int = 5  # log lines shown per stage


@dataclass
class StageStatus:
    stage: str
    state: str = "unknown"
    reason: str = ""  # why the state is what it is when it does not come from Slurm
    job_id: str | None = None
    restarts: int = 0
    checkpoint: str | None = None
    checkpoint_step: int | None = None
    step: int | None = None
    train_iters: int | None = None
    loss: float | None = None
    log: str | None = None
    log_tail: list[str] = field(default_factory=list)


def resolve_run_dir(run: str, root: str | None = None) -> Path:
    path = Path(run)
    if path.is_dir():
        return path
    base = Path(root) if root else default_launch_root()
    if (base / run).is_dir():
        return base / run
    raise FileNotFoundError(
        f"run {run!r}: neither a directory nor a run under {base} "
        f"(pass the run directory, or --root / SEALION_RUNS = launch.root)"
    )


def settle_abandoned(stage_dir: Path, evidence: str | None = None) -> StatusRecord:
    """The stage's status; a local attempt still recorded `running` whose launcher is gone (its run lock is free:
    the launcher and its job were killed together, a node crash) is recorded `failed` here, with the evidence and
    where it resumes from. Slurm jobs (a job id recorded) are left to sacct."""
    status = read_status(stage_dir)
    if status.state is not State.RUNNING or status.slurm_job_id or status.tasks:
        return status
    evidence = evidence or run_lock.holder_gone(stage_dir)
    if evidence is None:
        return status  # a live launcher holds it: running indeed
    from recipes.artifacts.stage_progress import resume_point

    write_status(
        stage_dir,
        State.FAILED,
        started=status.started,
        error=f"the attempt started {status.started or '?'} ended without recording its end; {evidence}; "
        f"{resume_point(stage_dir)}; run the stage again to resume",
    )
    return read_status(stage_dir)


def collect(run_dir: Path, tail: int = 5) -> list[StageStatus]:
    """The status of every stage directory (one holding resolved.yaml) under `run_dir`, in submission order; `run_dir`
    may be one stage's directory."""
    run_dir = Path(run_dir)
    if StageDir(run_dir).resolved.is_file():
        return [stage_status(run_dir, _nemo_run_job_ids(run_dir.parent / ".nemo_run").get(run_dir.name), tail)]
    stage_dirs = [d for d in run_dir.iterdir() if StageDir(d).resolved.is_file()]
    ledger = _nemo_run_job_ids(run_dir / ".nemo_run")
    return [stage_status(d, ledger.get(d.name), tail) for d in sorted(stage_dirs, key=_submitted_at)]


def stage_status(stage_dir: Path, ledger_job_id: str | None = None, tail: int = 5) -> StageStatus:
    own = settle_abandoned(stage_dir)
    status = StageStatus(stage=stage_dir.name, restarts=own.restart_count)
    status.job_id = own.slurm_job_id or ledger_job_id
    if status.job_id:
        _apply_sacct(status, status.job_id)
        if own.state is State.RUNNING and not own.tasks and status.state not in _LIVE:
            _record_unrecorded_end(stage_dir, own, status)
    else:
        status.state, status.reason = own.state.value, "no Slurm job id recorded (local run or not submitted)"
    checkpoint = newest_complete(checkpoint_dir(stage_dir))
    if checkpoint is not None:
        status.checkpoint, status.checkpoint_step = str(checkpoint.path), checkpoint.step
    log = newest_log(stage_dir)
    if log is not None:
        lines = log.read_text(errors="replace").splitlines()
        status.log, status.log_tail = str(log), lines[-tail:] if tail else []
        last = last_iteration(lines)
        if last is not None:
            status.step, status.train_iters, status.loss = last
    return status


#: Slurm states of a job that may still record its own end (and "unknown": no sacct to ask).
_LIVE = ("unknown", "PENDING", "RUNNING", "REQUEUED", "COMPLETING", "SUSPENDED")


def _record_unrecorded_end(stage_dir: Path, own: StatusRecord, slurm: StageStatus) -> None:
    """A Slurm job that ended without recording it (SIGKILL: the OOM killer, the kill after a cancel's or the time
    limit's grace, a node lost): recorded failed, with Slurm's word for it and where the stage resumes from."""
    from recipes.artifacts.stage_progress import resume_point

    write_status(
        stage_dir,
        State.FAILED,
        started=own.started,
        slurm_job_id=slurm.job_id,
        restart_count=slurm.restarts,
        error=f"the job ended without recording its end (Slurm: {slurm.state}, "
        f"{slurm.reason}); {resume_point(stage_dir)}",
    )


def last_iteration(lines: list[str]) -> tuple[int, int, float] | None:
    """(step, train iters, lm loss) of the last Megatron iteration line, or None."""
    for line in reversed(lines):
        match = _ITERATION.search(line)
        if match:
            return int(match.group(1)), int(match.group(2)), float(match.group(3))
    return None


def _apply_sacct(status: StageStatus, job_id: str) -> None:
    if shutil.which("sacct") is None:
        status.state, status.reason = "unknown", "sacct not found on PATH (run on a Slurm login node)"
        return
    result = subprocess.run(
        ["sacct", "-j", job_id, "-X", "--duplicates", "--noheader", "--parsable2", f"--format={SACCT_FORMAT}"],
        capture_output=True,
        text=True,
    )
    rows = [line.split("|") for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not rows:
        status.state = "unknown"
        status.reason = f"sacct -j {job_id}: {result.stderr.strip() or 'no record (purged or other cluster)'}"
        return
    row = dict(zip(SACCT_FORMAT.split(","), rows[-1]))
    status.state, status.reason = row["State"], f"elapsed {row['Elapsed']}, exit {row['ExitCode']}"
    status.restarts = max(status.restarts, len(rows) - 1)


def _nemo_run_job_ids(nemo_run_home: Path) -> dict[str, str]:
    """Stage name -> the Slurm job id NeMo-Run recorded when it submitted it (the latest submission wins)."""
    ledger = nemo_run_home / ".slurm_jobs"
    ids: dict[str, str] = {}
    if ledger.is_file():
        for line in ledger.read_text().splitlines():
            job_id, sep, rest = line.partition(" = ")
            fields = rest.split(",")
            if sep and len(fields) >= 2:
                ids[Path(fields[1]).name] = job_id.strip()
    return ids


def _submitted_at(stage_dir: Path) -> float:
    layout = StageDir(stage_dir)
    return (layout.manifest if layout.manifest.exists() else layout.resolved).stat().st_mtime


def render(statuses: list[StageStatus], title: str) -> Table:
    table = Table(title=title, show_lines=True)
    for column in ("stage", "state", "job", "restarts", "checkpoint", "step", "loss", "log tail"):
        table.add_column(column, overflow="fold")
    for s in statuses:
        state = f"{s.state}\n[dim]{s.reason}[/dim]" if s.reason else s.state
        step = f"{s.step}/{s.train_iters}" if s.step is not None else "-"
        checkpoint = f"step {s.checkpoint_step}\n[dim]{s.checkpoint}[/dim]" if s.checkpoint else "-"
        table.add_row(
            s.stage,
            state,
            s.job_id or "-",
            str(s.restarts),
            checkpoint,
            step,
            f"{s.loss:.4f}" if s.loss is not None else "-",
            "\n".join(s.log_tail) or "-",
        )
    return table


def run(settings: StatusSettings, console: Console | None = None) -> list[StageStatus]:
    run_dir = resolve_run_dir(settings.run, settings.root)
    statuses = collect(run_dir, settings.tail)
    if not statuses:
        runs = sorted(d.name for d in run_dir.iterdir() if any(StageDir(s).resolved.is_file() for s in d.glob("*")))
        raise FileNotFoundError(
            f"{run_dir} holds no stage directory (one with resolved.yaml): pass a run directory, "
            f"<launch.root>/<run.name>" + (f", e.g. {run_dir / runs[0]}" if runs else "") + ", or one stage's directory"
        )
    (console or Console()).print(render(statuses, title=f"run {run_dir.name} ({run_dir})"))
    return statuses
