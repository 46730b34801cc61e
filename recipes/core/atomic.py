"""Atomic file writes: a reader (another array task, `recipes.status`, a requeued attempt) sees the old file or the
new one, never half of one. The text goes to a temporary file beside the target, then os.replace (atomic within a
file system) puts it in place."""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomic(path: str | Path, text: str) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: concurrent writers never share one
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
