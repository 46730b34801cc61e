"""Everything a curation run writes: curated JSONL per (source, lang), quarantine and rejection logs, the summary.

Layout of the output directory (one per shard of a job array):
  curated/<source>_<lang>.jsonl   id, text, lang, source (+ detected_lang): the input of data_prep.tokenize
  quarantine.jsonl                {origin, reason, detail, raw}: input records that were not documents
  rejected.jsonl                  {id, origin, stage, rule, reason[, duplicate_of]}: documents a stage dropped
  curation_summary.json           counts per stage and reason (`CurationSummary`)
While dedup (global over all shards) is pending, the documents that passed every other rule wait in
candidates.jsonl, and the counts so far in screened.json; `finish` turns them into curated/ and the summary.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from data_prep.documents import Document, Quarantined, Rejection
from recipes.core.atomic import write_text_atomic

CURATED_DIR = "curated"
QUARANTINE = "quarantine.jsonl"
REJECTED = "rejected.jsonl"
SUMMARY = "curation_summary.json"
CANDIDATES = "candidates.jsonl"
SCREENED = "screened.json"


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
    """Writes the records of the steps before dedup as they come and counts them; a run's earlier outputs in the
    directory are replaced. The old summary goes first: a run that fails midway leaves no summary that disagrees
    with the files beside it."""

    def __init__(self, output_dir: str | Path):
        self.root = Path(output_dir)
        (self.root / CURATED_DIR).mkdir(parents=True, exist_ok=True)
        for done in (SUMMARY, SCREENED):
            (self.root / done).unlink(missing_ok=True)
        self._candidates = open(self.root / CANDIDATES, "w", encoding="utf-8")
        self._quarantine = open(self.root / QUARANTINE, "w", encoding="utf-8")
        self._rejected = open(self.root / REJECTED, "w", encoding="utf-8")
        self._quarantine_reasons: Counter = Counter()
        self._rejections: defaultdict[str, Counter] = defaultdict(Counter)
        self.candidates = 0

    def candidate(self, doc: Document) -> None:
        """A document that passed every rule before dedup, as line `self.candidates` of candidates.jsonl."""
        _write(self._candidates, asdict(doc))
        self.candidates += 1

    def quarantine(self, record: Quarantined) -> None:
        _write(self._quarantine, asdict(record))
        self._quarantine_reasons[record.reason] += 1

    def reject(self, doc: Document, rejection: Rejection) -> None:
        _write(self._rejected, _rejection_record(doc.id, doc.origin, rejection))
        self._rejections[rejection.stage][rejection.rule] += 1

    def close(self, summary: CurationSummary) -> CurationSummary:
        """Fill the counts so far into `summary`, close every file and write screened.json."""
        for f in (self._candidates, self._quarantine, self._rejected):
            f.close()
        summary.quarantined = sum(self._quarantine_reasons.values())
        summary.quarantine_reasons = dict(self._quarantine_reasons.most_common())
        summary.rejected = sum(sum(c.values()) for c in self._rejections.values())
        summary.rejected_by_stage = {stage: dict(c.most_common()) for stage, c in self._rejections.items()}
        screened = {
            "summary": asdict(summary),
            "candidates": self.candidates,
            "rejected_bytes": (self.root / REJECTED).stat().st_size,
        }
        write_text_atomic(self.root / SCREENED, json.dumps(screened, ensure_ascii=False) + "\n")
        return summary


def finish(output_dir: str | Path, removals: dict[int, Rejection]) -> CurationSummary:
    """The filter step: candidates.jsonl minus `removals` (by line) into curated/, the removals into
    rejected.jsonl, and curation_summary.json. Rerunnable: it starts again from what `CurationWriter` left, or
    returns the summary of a finished run."""
    root = Path(output_dir)
    if (root / SUMMARY).exists() and not (root / CANDIDATES).exists():  # done: killed between its last two steps
        return CurationSummary(**json.loads((root / SUMMARY).read_text(encoding="utf-8")))
    screened = json.loads((root / SCREENED).read_text(encoding="utf-8"))
    summary = CurationSummary(**screened["summary"])
    (root / CURATED_DIR).mkdir(exist_ok=True)
    for old in (root / CURATED_DIR).glob("*.jsonl"):
        old.unlink()
    curated: dict[str, IO[str]] = {}
    kept: Counter = Counter()
    removed: Counter = Counter()
    lines = 0
    with (
        open(root / REJECTED, "r+", encoding="utf-8") as rejected,
        open(root / CANDIDATES, encoding="utf-8") as candidates,
    ):
        rejected.truncate(screened["rejected_bytes"])  # a rerun drops the previous attempt's dedup lines
        rejected.seek(screened["rejected_bytes"])
        for index, line in enumerate(candidates):
            lines += 1
            doc = Document(**json.loads(line))
            if index in removals:
                _write(rejected, _rejection_record(doc.id, doc.origin, removals[index]))
                removed[removals[index].rule] += 1
                continue
            name = curated_name(doc.source, doc.lang)
            if name not in curated:
                curated[name] = open(root / name, "w", encoding="utf-8")
            record = {"id": doc.id, "text": doc.text, "lang": doc.lang, "source": doc.source}
            if doc.detected_lang is not None:
                record["detected_lang"] = doc.detected_lang
            _write(curated[name], record)
            kept[name] += 1
    for f in curated.values():
        f.close()
    if lines != screened["candidates"]:
        raise RuntimeError(
            f"{root / CANDIDATES} has {lines} lines where {root / SCREENED} counted "
            f"{screened['candidates']}: screen this shard again"
        )
    summary.kept = sum(kept.values())
    summary.kept_per_file = dict(sorted(kept.items()))
    summary.rejected += sum(removed.values())
    if removed:
        summary.rejected_by_stage["dedup"] = dict(removed.most_common())
    write_text_atomic(root / SUMMARY, json.dumps(asdict(summary), indent=2, ensure_ascii=False) + "\n")
    (root / CANDIDATES).unlink()
    return summary


def _rejection_record(doc_id: str, origin: str, rejection: Rejection) -> dict:
    record = {
        "id": doc_id,
        "origin": origin,
        "stage": rejection.stage,
        "rule": rejection.rule,
        "reason": rejection.reason,
    }
    if rejection.duplicate_of is not None:
        record["duplicate_of"] = rejection.duplicate_of
    return record


def _write(f: IO[str], record: dict) -> None:
    f.write(json.dumps(record, ensure_ascii=False) + "\n")
