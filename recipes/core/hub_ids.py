"""A model or dataset reference is a hub id (`org/name`) or a file system path: the eval runners, the tokenizer
loader and preflight tell them apart the same way."""

from __future__ import annotations

import re

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_local_path(model: str) -> bool:
    """A model reference that names a file system path rather than a hub id (`org/name`)."""
    return model.startswith(("/", ".", "~")) or not HUB_ID.match(model)
