"""Checkpoint directory protocol: a resumed or evaluated run never picks up a half-written checkpoint.

A checkpoint is written into `<name>.tmp-<pid>`, its completeness marker (step, consumed samples, timestamp and
every file with its size) is written last, and only then is the directory renamed to `<name>` (atomic on one
filesystem). A directory counts as complete only if it has a final name, a marker, and every file the marker lists
with the listed size. Megatron's own `iter_NNNNNNN` directories (written by Megatron-Bridge, not through this
protocol) count as complete when `latest_checkpointed_iteration.txt`, which Megatron updates after a save has
finished, names that iteration or a later one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "COMPLETE.json"
TEMP_INFIX = ".tmp-"
MEGATRON_TRACKER = "latest_checkpointed_iteration.txt"
_MEGATRON_DIR = re.compile(r"^iter_(\d{7,})$")


@dataclass
class Checkpoint:
    path: Path
    step: int
    consumed_samples: int | None = None  # unknown for Megatron directories (it lives inside their state)
    timestamp: str | None = None
    files: dict[str, int] = field(default_factory=dict)  # relative path -> size in bytes, from the marker


@contextmanager
def writing_checkpoint(parent: Path, name: str, step: int, consumed_samples: int) -> Iterator[Path]:
    """Yield a temporary directory to write into; on success mark it complete and rename it to `parent/name`.

    On an exception the temporary directory is removed and nothing named `name` appears.
    """
    if TEMP_INFIX in name or "/" in name:
        raise ValueError(f"checkpoint name {name!r} must be a plain directory name without {TEMP_INFIX!r}")
    parent = Path(parent)
    final = parent / name
    if final.exists():
        raise FileExistsError(f"checkpoint {final} already exists; pick a new name (e.g. one with the step)")
    tmp = parent / f"{name}{TEMP_INFIX}{os.getpid()}"
    tmp.mkdir(parents=True)
    try:
        yield tmp
        _write_marker(tmp, step, consumed_samples)
        os.rename(tmp, final)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def newest_complete(directory: Path) -> Checkpoint | None:
    """The complete checkpoint with the highest step under `directory`, or None."""
    complete = complete_checkpoints(directory)
    return complete[-1] if complete else None


def complete_checkpoints(directory: Path) -> list[Checkpoint]:
    """Every complete checkpoint under `directory`, oldest step first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    tracked = megatron_latest_iteration(directory)
    found = []
    for child in directory.iterdir():
        if not child.is_dir() or TEMP_INFIX in child.name:
            continue
        checkpoint = _read_marked(child) or _read_megatron(child, tracked)
        if checkpoint is not None:
            found.append(checkpoint)
    return sorted(found, key=lambda c: (c.step, c.path.name))


def keep_last_n(directory: Path, n: int) -> list[Path]:
    """Delete all but the `n` newest complete checkpoints; returns what was deleted.

    Incomplete directories are left alone (one may be a save in progress), so the newest complete checkpoint is
    never deleted and a crash during cleanup cannot leave the run without one.
    """
    if n < 1:
        raise ValueError(f"keep_last_n: n={n}; keep at least 1 so the newest complete checkpoint survives")
    doomed = [c.path for c in complete_checkpoints(directory)[:-n]]
    for path in doomed:
        shutil.rmtree(path)
    return doomed


def megatron_latest_iteration(directory: Path) -> int | None:
    """The iteration in Megatron's `latest_checkpointed_iteration.txt` (0 for `release`), or None if absent."""
    tracker = Path(directory) / MEGATRON_TRACKER
    if not tracker.exists():
        return None
    text = tracker.read_text().strip()
    if text == "release":
        return 0
    if not text.isdigit():
        raise ValueError(f"{tracker}: expected an iteration number or 'release', found {text!r}")
    return int(text)


def _read_marked(path: Path) -> Checkpoint | None:
    marker = path / MARKER
    if not marker.is_file():
        return None
    try:
        data = json.loads(marker.read_text())
        checkpoint = Checkpoint(
            path=path,
            step=int(data["step"]),
            consumed_samples=int(data["consumed_samples"]),
            timestamp=str(data["timestamp"]),
            files={str(k): int(v) for k, v in data["files"].items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # a damaged marker means an unusable checkpoint, not a crash of whoever is looking
    for rel, size in checkpoint.files.items():
        file = path / rel
        if not file.is_file() or file.stat().st_size != size:
            return None
    return checkpoint


def _read_megatron(path: Path, tracked: int | None) -> Checkpoint | None:
    if tracked is None:
        return None
    if path.name == "release":
        return Checkpoint(path=path, step=0) if tracked == 0 else None
    match = _MEGATRON_DIR.match(path.name)
    if match is None or int(match.group(1)) > tracked or not any(path.iterdir()):
        return None
    return Checkpoint(path=path, step=int(match.group(1)))


def _write_marker(directory: Path, step: int, consumed_samples: int) -> None:
    files = {str(p.relative_to(directory)): p.stat().st_size for p in sorted(directory.rglob("*")) if p.is_file()}
    for rel in files:
        with open(directory / rel, "rb") as f:
            os.fsync(f.fileno())
    marker = {
        "step": step,
        "consumed_samples": consumed_samples,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    with open(directory / MARKER, "w") as f:
        json.dump(marker, f, indent=2)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
