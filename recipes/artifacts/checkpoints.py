"""Which of a stage's checkpoints is complete: a resumed or evaluated run never picks up a half-written one.

The checkpoints are Megatron's `iter_NNNNNNN` directories (written by Megatron-Bridge): one counts as complete when
`latest_checkpointed_iteration.txt`, which Megatron updates after a save has finished, names that iteration or a
later one, and it is not empty. A directory above the tracked iteration is a save in progress.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

MEGATRON_TRACKER = "latest_checkpointed_iteration.txt"
_MEGATRON_DIR = re.compile(r"^iter_(\d{7,})$")


@dataclass
class Checkpoint:
    path: Path
    step: int


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
        if not child.is_dir():
            continue
        checkpoint = _read_megatron(child, tracked)
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


def _read_megatron(path: Path, tracked: int | None) -> Checkpoint | None:
    if tracked is None:
        return None
    if path.name == "release":
        return Checkpoint(path=path, step=0) if tracked == 0 else None
    match = _MEGATRON_DIR.match(path.name)
    if match is None or int(match.group(1)) > tracked or not any(path.iterdir()):
        return None
    return Checkpoint(path=path, step=int(match.group(1)))
