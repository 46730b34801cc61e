"""How a stage's job ended, typed: its `State`, the `StatusRecord` it keeps in `status.json`, the `StageOutcome` its
`execute` returns, and the job lock that tells a live attempt from a dead one.

The job writes the record (local executors report no job state, and the record carries Slurm's restart count); the
submit side reads it and completes it where the job could not (a SIGKILL). Both import it from here, so the record's
shape is defined once and a run directory written by an earlier version still reads.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from recipes.core.atomic import write_text_atomic
from recipes.core.run_layout import StageDir
from recipes.core.stage_context import ArrayTask


class State(enum.StrEnum):
    NOT_STARTED = "not started"  # no record yet: never launched, or cancelled before the job started
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"  # by a signal (SIGTERM, SIGINT) before it finished: resumable

    @property
    def ended(self) -> bool:
        """Whether the attempt recorded its end (a record still `running` may belong to a job that died)."""
        return self in (State.SUCCEEDED, State.FAILED, State.STOPPED)


class StageOutcome(enum.Enum):
    """What a stage's `execute` returns; None means DONE."""

    DONE = "done"  # this process completed the artifact: the runner registers it
    PART_DONE = "part done"  # this array task's part is done; a sibling task completes the artifact and registers it

    @classmethod
    def of(cls, returned: object, stage: str) -> StageOutcome:
        if returned is None:
            return cls.DONE
        if isinstance(returned, cls):
            return returned
        raise TypeError(f"stage {stage}: execute returned {returned!r}; return None (done) or a StageOutcome")


class UnreadableStatus(ValueError):
    """A status record that is not the JSON object the job writes; the message names the file and the repair."""


@dataclass
class StatusRecord:
    """`status.json` (or `status.task-NNNN.json`, one per task of a job array), field for field."""

    state: State
    updated: str = ""
    restart_count: int = 0
    slurm_job_id: str | None = None  # None: a local run (or one not submitted yet)
    started: str | None = None
    error: str | None = None
    array_task: int | None = None
    array_task_count: int | None = None
    tasks: int | None = None  # only in read_status's view of a job array: how many tasks have a record

    def to_json(self) -> str:
        # slurm_job_id is always written (null for a local run), the other unset fields never, as records always were
        record = {k: v for k, v in dataclasses.asdict(self).items() if v is not None or k == "slurm_job_id"}
        return json.dumps({**record, "state": self.state.value}, indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> StatusRecord:
        try:
            raw = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raw = err
        why = f"not valid JSON ({raw})" if isinstance(raw, Exception) else "holds no state"
        if isinstance(raw, dict) and isinstance(raw.get("state"), str):
            try:
                state = State(raw["state"])
            except ValueError:
                why = f"state {raw['state']!r} is none of {', '.join(State)}"
            else:
                known = {f.name for f in dataclasses.fields(cls)}
                return cls(**{**{k: v for k, v in raw.items() if k in known}, "state": state})
        raise UnreadableStatus(
            f"{path}: {why}, e.g. truncated by a full disk; fix: delete it and run the stage "
            "again (it resumes from its committed work)"
        )


def write_status(
    run_dir: Path,
    state: State,
    started: str | None = None,
    error: str | None = None,
    slurm_job_id: str | None = None,
    restart_count: int | None = None,
) -> StatusRecord:
    """Record how the last attempt stands. The Slurm job id and restart count are this job's (its environment's)
    unless given, as when the submit side records a job's end from sacct. One file per task in a job array."""
    task = ArrayTask.from_environment()
    record = StatusRecord(
        state=state,
        updated=now(),
        restart_count=int(os.environ.get("SLURM_RESTART_COUNT", 0)) if restart_count is None else restart_count,
        slurm_job_id=slurm_job_id or os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID"),
        started=started,
        error=error,
    )
    path = StageDir(run_dir).status
    if task.count > 1:
        record.array_task, record.array_task_count = task.index, task.count
        path = StageDir(run_dir).task_status(task.index)
    write_text_atomic(path, record.to_json())
    return record


def read_status(run_dir: Path) -> StatusRecord:
    """The stage's state; for a job array, all tasks together: failed if one failed, succeeded when all did."""
    tasks = [StatusRecord.load(p) for p in StageDir(run_dir).task_statuses()]
    if tasks:
        failed = [t for t in tasks if t.state is State.FAILED]
        done = len(tasks) == tasks[0].array_task_count and all(t.state is State.SUCCEEDED for t in tasks)
        return dataclasses.replace(
            failed[0] if failed else tasks[-1],
            state=State.FAILED if failed else State.SUCCEEDED if done else State.RUNNING,
            tasks=len(tasks),
            restart_count=max(t.restart_count for t in tasks),
        )
    path = StageDir(run_dir).status
    return StatusRecord.load(path) if path.exists() else StatusRecord(State.NOT_STARTED)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


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
