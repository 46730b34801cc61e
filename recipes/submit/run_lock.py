"""One live launcher per run directory, and the temporaries a dead one left cleaned away.

Two launches into one run directory (the same launch.root, run.name and stage) would overwrite each other's
resolved.yaml and race on the same shards and records. The launcher takes an exclusive `flock` on
`<run dir>/.run.lock` before it writes anything there and holds it until its process ends; the kernel releases it
when the holder dies, however it dies, so a killed launcher never keeps it. The lock file names its holder (pid,
host, start, command) for the error the second launcher gets; the command is stored redacted
(`recipes.core.secret_values`), as every other file a launch writes, and redacted again when printed.

A launcher that holds the lock is the only one writing the directory, so any temporary left there (`*.tmp`, a
shard's `<id>.tmp/`, `<prefix>.tmp.bin`) belongs to a dead run: it is removed before the new run writes.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import socket
import sys
from pathlib import Path

from recipes.core import secret_values
from recipes.core.status import JOB_LOCK, job_alive

LOCK_FILE = ".run.lock"
_held: dict[Path, int] = {}  # run dir -> the open lock file descriptor, kept open while this process lives


class RunDirBusy(Exception):
    """Another live launcher holds the run directory; the message names it."""


def hold(run_dir: Path) -> None:
    """Take `run_dir` for this process (again: a no-op), then remove the temporaries an earlier run left."""
    run_dir = run_dir.resolve()
    if run_dir in _held:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        busy = _describe(os.read(fd, 4096))
        os.close(fd)
        raise RunDirBusy(f"{run_dir} is in use by {busy}") from None
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "argv": secret_values.redact(list(sys.argv)),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record).encode(), 0)
    _held[run_dir] = fd
    remove_temporaries(run_dir)


def holder_gone(run_dir: Path) -> str | None:
    """Evidence that neither a launcher nor a job holds `run_dir` (both locks free; the holder the run lock names,
    if any), or None while one does. A launcher that died of SIGKILL or with its node releases the lock with its
    process."""
    path = Path(run_dir) / LOCK_FILE
    if Path(run_dir).resolve() in _held or job_alive(run_dir):
        return None  # a launcher, or a job started without one (a rendered command.sh), lives
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return f"no launcher holds {run_dir} (it has no {LOCK_FILE}) and no job holds {JOB_LOCK}"
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return None
    else:
        raw = os.read(fd, 4096)
        holder = _describe(raw) if raw.strip() else "unnamed"
        return f"its launcher ({holder}) is gone: {path} is free, and no job holds {JOB_LOCK}"
    finally:
        os.close(fd)


def _describe(raw: bytes) -> str:
    try:
        holder = json.loads(raw)
        return (
            f"pid {holder['pid']} on {holder['host']} since {holder['started']} "
            f"({' '.join(secret_values.redact([str(a) for a in holder['argv']]))})"
        )
    except (ValueError, KeyError, TypeError):
        return "another launcher that is starting"


def is_temporary(name: str) -> bool:
    return name.endswith(".tmp") or ".tmp." in name


def remove_temporaries(run_dir: Path) -> list[Path]:
    """Remove every temporary file or directory under `run_dir`; the removed paths."""
    removed = []
    for parent, dirs, files in os.walk(run_dir):
        for name in [d for d in dirs if is_temporary(d)]:
            shutil.rmtree(Path(parent) / name, ignore_errors=True)
            dirs.remove(name)
            removed.append(Path(parent) / name)
        for name in filter(is_temporary, files):
            (Path(parent) / name).unlink(missing_ok=True)
            removed.append(Path(parent) / name)
    return removed
