"""An operating-system error (a full disk, a missing or read-only path) as the one line a user acts on.

A raw OSError traceback names neither the disk nor how full it is; ENOSPC in particular often leaves the stage's
log empty, because the log is on the full disk too. The line names the path, the error and the free space of the
file system holding it."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path


def free_space(path: str | os.PathLike) -> str:
    """Free bytes (human-readable) of the file system holding `path` or its nearest existing parent."""
    where = Path(path)
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        free = float(shutil.disk_usage(where).free)
    except OSError:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if free < 1024 or unit == "TiB":
            return f"{free:.0f} {unit}" if unit == "B" else f"{free:.1f} {unit}"
        free /= 1024
    return "unknown"


def describe(err: OSError, within: str | os.PathLike | None = None) -> str:
    """`<path>: <error> (<free> free there); fix: ...`: one line. A failed write() names no file (ENOSPC never
    does): then the directory it was writing `within` (the run directory) stands for it."""
    path = err.filename or (f"a file under {within}" if within else "(no path given)")
    where = err.filename or within
    what = err.strerror or str(err)
    fix = (
        (
            "free space on that file system or point launch.root at another, then run the stage again (committed "
            "work is kept)"
        )
        if err.errno in (errno.ENOSPC, errno.EDQUOT)
        else ("check that the path exists and is writable by you, then run the stage again")
    )
    return f"{path}: {what} ({free_space(where) if where else 'unknown'} free there); fix: {fix}"
