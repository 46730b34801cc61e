"""A preflight finding, in the core so that a stage module builds its own checks without the submit layer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from recipes.core.schema import RootConfig

Severity = Literal["error", "warning"]  # a warning is printed and does not stop the launch


@dataclass(frozen=True)
class Finding:
    field: str
    message: str
    fix: str
    severity: Severity = "error"

    def line(self) -> str:
        return f"{self.field}: {self.message}; fix: {self.fix}"


#: A preflight rule: a pure function of the typed config (and, for paths, of the filesystem).
Check = Callable[[RootConfig], list[Finding]]
