"""The records that flow through curation: a document, a quarantined input record, a rejection."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Document:
    id: str
    text: str
    lang: str
    source: str
    origin: str  # where it came from: "path:line" (1-based) or "dataset:index", for tracing any output back
    detected_lang: str | None = None  # set by language ID; None for code or before language ID


@dataclass(frozen=True)
class Quarantined:
    """An input record that could not become a Document (bad JSON, bytes, text or language)."""

    origin: str
    reason: str  # a short reason key, e.g. "malformed_json"; counted per key in the summary
    detail: str  # what exactly was wrong, for a human fixing the input
    raw: str  # the record as read, truncated, decoded with errors="replace"


@dataclass(frozen=True)
class Rejection:
    """Why a stage dropped a document: `rule` is counted in the summary, `detail` names the measured value."""

    stage: str
    rule: str
    detail: str
    duplicate_of: str | None = None  # dedup only: the id of the kept document this one duplicates

    @property
    def reason(self) -> str:
        return f"{self.rule}: {self.detail}"
