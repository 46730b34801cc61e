"""Everything a curation run writes: curated JSONL per (source, lang), quarantine and rejection logs, the summary.

Layout of the output directory:
  curated/<source>_<lang>.jsonl   id, text, lang, source (+ detected_lang): the input of data_prep.tokenize
  quarantine.jsonl                {origin, reason, detail, raw}: input records that were not documents
  rejected.jsonl                  {id, origin, stage, rule, reason[, duplicate_of]}: documents a stage dropped
  curation_summary.json           counts per stage and reason (`CurationSummary`)
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from data_prep.documents import Document, Quarantined, Rejection

CURATED_DIR = "curated"
QUARANTINE = "quarantine.jsonl"
REJECTED = "rejected.jsonl"
SUMMARY = "curation_summary.json"


@dataclass
class CurationSummary:
    input_records: int = 0
    kept: int = 0
    quarantined: int = 0
    rejected: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    rejected_by_stage: dict[str, dict[str, int]] = field(default_factory=dict)  # stage -> rule -> count
    language_disagreements: dict[str, int] = field(default_factory=dict)  # "declared->detected" -> count
    language_interchangeable: dict[str, int] = field(default_factory=dict)  # e.g. "ms->id", kept as agreement
    kept_per_file: dict[str, int] = field(default_factory=dict)  # curated/<source>_<lang>.jsonl -> count
    seconds: float = 0.0

    def balanced(self) -> bool:
        """The invariant: every input record is kept, quarantined or rejected, exactly once."""
        return self.input_records == self.kept + self.quarantined + self.rejected


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def curated_name(source: str, lang: str) -> str:
    return f"{CURATED_DIR}/{_safe(source)}_{_safe(lang)}.jsonl"


class CurationWriter:
    """Writes records as they come and counts them; a run's earlier outputs in the directory are replaced. The old
    summary goes first: a run that fails midway leaves no summary that disagrees with the files beside it."""

    def __init__(self, output_dir: str | Path):
        self.root = Path(output_dir)
        (self.root / CURATED_DIR).mkdir(parents=True, exist_ok=True)
        (self.root / SUMMARY).unlink(missing_ok=True)
        for old in (self.root / CURATED_DIR).glob("*.jsonl"):
            old.unlink()
        self._quarantine = open(self.root / QUARANTINE, "w", encoding="utf-8")
        self._rejected = open(self.root / REJECTED, "w", encoding="utf-8")
        self._curated: dict[str, IO[str]] = {}
        self._quarantine_reasons: Counter = Counter()
        self._rejections: defaultdict[str, Counter] = defaultdict(Counter)
        self._kept: Counter = Counter()

    def keep(self, doc: Document) -> None:
        name = curated_name(doc.source, doc.lang)
        if name not in self._curated:
            self._curated[name] = open(self.root / name, "w", encoding="utf-8")
        record = {"id": doc.id, "text": doc.text, "lang": doc.lang, "source": doc.source}
        if doc.detected_lang is not None:
            record["detected_lang"] = doc.detected_lang
        _write(self._curated[name], record)
        self._kept[name] += 1

    def quarantine(self, record: Quarantined) -> None:
        _write(self._quarantine, asdict(record))
        self._quarantine_reasons[record.reason] += 1

    def reject(self, doc: Document, rejection: Rejection) -> None:
        record = {"id": doc.id, "origin": doc.origin, "stage": rejection.stage, "rule": rejection.rule,
                  "reason": rejection.reason}
        if rejection.duplicate_of is not None:
            record["duplicate_of"] = rejection.duplicate_of
        _write(self._rejected, record)
        self._rejections[rejection.stage][rejection.rule] += 1

    def close(self, summary: CurationSummary) -> CurationSummary:
        """Fill the counts into `summary`, close every file and write curation_summary.json."""
        for f in (self._quarantine, self._rejected, *self._curated.values()):
            f.close()
        summary.kept = sum(self._kept.values())
        summary.kept_per_file = dict(sorted(self._kept.items()))
        summary.quarantined = sum(self._quarantine_reasons.values())
        summary.quarantine_reasons = dict(self._quarantine_reasons.most_common())
        summary.rejected = sum(sum(c.values()) for c in self._rejections.values())
        summary.rejected_by_stage = {stage: dict(c.most_common()) for stage, c in self._rejections.items()}
        (self.root / SUMMARY).write_text(json.dumps(asdict(summary), indent=2, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
        return summary


def _write(f: IO[str], record: dict) -> None:
    f.write(json.dumps(record, ensure_ascii=False) + "\n")
