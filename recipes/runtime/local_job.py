"""Run one stage on this machine as a child process tree, and record how it ended whatever happens to it.

The job runs with the launching interpreter (`sys.executable`, so an unactivated venv works), in a session of its
own so that the whole tree (torchrun, its ranks, data prep's pool workers) is signalled together. Ctrl-C (SIGINT)
or SIGTERM to the launcher sends SIGTERM to that tree (training saves and exits; data prep keeps its committed
shards), then SIGKILL after `cluster.signal_lead_s`; the stage is recorded as stopped. A child that dies of a
signal (the OOM killer's SIGKILL) is recorded as failed with the signal, the newest complete checkpoint and the
log. If the launcher itself is killed, the kernel sends SIGTERM to the job (PR_SET_PDEATHSIG): nothing is orphaned.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from recipes.core.parent_death import signal_on_parent_death
from recipes.core.run_layout import StageDir
from recipes.core.status import State, StatusRecord, read_status, write_status


def command(run_dir: Path, torchrun_ranks: int) -> list[str]:
    """The stage runner under this Python; under torchrun (this Python's `torch.distributed.run`) for GPU ranks."""
    runner = ["-m", "recipes.runtime.stage_runner", "--run-dir", str(run_dir)]
    if torchrun_ranks:
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={torchrun_ranks}",
            *runner,
        ]
    return [sys.executable, *runner]


def log_path(run_dir: Path) -> Path:
    return StageDir(run_dir).logs / "stage.log"


def run(cmd: list[str], run_dir: Path, env: dict[str, str], grace_s: float, cwd: Path) -> StatusRecord:
    """Run `cmd`, its output on this terminal and in the stage's log; return the stage's final status."""
    log = log_path(run_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    stopped: dict[str, float] = {}  # the signal that stopped the launcher -> when
    offset = log.stat().st_size if log.exists() else 0
    # The job writes its log itself and this process follows it: a launcher that dies breaks no pipe of the job.
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=signal_on_parent_death,
        )

    def stop(signum, _frame):
        if not stopped:
            stopped[signal.Signals(signum).name] = time.monotonic()
            _signal_tree(proc.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    ended = threading.Event()
    follower = threading.Thread(target=_follow, args=(log, offset, ended), daemon=True)
    follower.start()
    try:
        while proc.poll() is None:
            if stopped and time.monotonic() > min(stopped.values()) + grace_s:
                _signal_tree(proc.pid, signal.SIGKILL)
            time.sleep(0.1)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _signal_tree(proc.pid, signal.SIGKILL)  # what is left of the tree (orphaned workers), or all of it if the
        proc.wait()  # launcher itself is failing
        ended.set()
        follower.join(timeout=10)
    return record_end(run_dir, proc.returncode, next(iter(stopped), None))


def _follow(log: Path, offset: int, ended: threading.Event) -> None:
    """Copy what the job appends to its log onto this terminal until it has ended."""
    with log.open("rb") as source:
        source.seek(offset)
        while True:
            last = ended.is_set()
            chunk = source.read()
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            elif last:
                return
            else:
                time.sleep(0.2)


def record_end(run_dir: Path, returncode: int, stopped_by: str | None) -> StatusRecord:
    """The stage's status, completed where the job could not write its own end (a signal killed it, or it was
    stopped before it started)."""
    from recipes.artifacts.stage_progress import resume_point

    status = read_status(run_dir)
    if status.state.ended:
        return status
    started = status.started
    where = resume_point(run_dir)
    if stopped_by:
        write_status(
            run_dir,
            State.STOPPED,
            started=started,
            error=f"stopped by {stopped_by} to the launcher; {where}; run the stage again to resume",
        )
    else:
        cause = signal.Signals(-returncode).name if returncode < 0 else f"exit code {returncode}"
        hint = " (out of memory? see dmesg)" if returncode == -signal.SIGKILL else ""
        write_status(
            run_dir,
            State.FAILED,
            started=started,
            error=f"the job died of {cause}{hint} without recording an end; {where}",
        )
    return read_status(run_dir)


def _signal_tree(session_leader: int, sig: signal.Signals) -> None:
    try:
        os.killpg(session_leader, sig)
    except ProcessLookupError:
        pass
