"""Atomic file writes: a reader (another array task, `recipes.status`, a requeued attempt) sees the old file or the
new one, never half of one. The bytes go to a temporary file beside the target, are flushed to disk, then
os.replace (atomic within a file system) puts it in place; a write that fails leaves no temporary behind."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def open_atomic(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """A handle on a temporary beside `path` that becomes `path` when the block ends without an error."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: concurrent writers never share one
    try:
        with open(tmp, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    with open_atomic(path, "w") as handle:
        handle.write(text)
    return Path(path)
