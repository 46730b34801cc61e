"""Language ID against the declared language, with `recipes.core.language_id` (one detector in the repo).

Declared labels come from where a file was crawled or who built it, and are usually right but not always: a
disagreement is recorded on the document (`detected_lang`) and counted per declared->detected pair, and only
dropped when the policy says so. Indonesian and Malay are confused by every detector on short text, so that
pair counts as agreement (still counted as a pair, so the rate is visible). Code skips detection.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from data_prep.documents import Document, Rejection
from recipes.core.language_id import detect_language
from recipes.core.languages import CODE, INTERCHANGEABLE, LANGID_POLICIES

STAGE = "langid"


@dataclass
class LangIdSettings:
    on_disagreement: str = "keep"  # "keep" (record detected_lang and count) or "drop"

    def __post_init__(self) -> None:
        if self.on_disagreement not in LANGID_POLICIES:
            raise ValueError(
                f"LangIdSettings.on_disagreement is {self.on_disagreement!r}; use one of {LANGID_POLICIES}"
            )


@dataclass
class LangIdTally:
    """Counts per "declared->detected" pair: disagreements, and interchangeable pairs accepted as agreement."""

    disagreements: Counter = field(default_factory=Counter)
    interchangeable: Counter = field(default_factory=Counter)


def identify(doc: Document, settings: LangIdSettings, tally: LangIdTally) -> Document | Rejection:
    if doc.lang == CODE:
        return doc
    detected = detect_language(doc.text)
    doc.detected_lang = detected
    if detected == doc.lang:
        return doc
    pair = f"{doc.lang}->{detected}"
    if detected in INTERCHANGEABLE.get(doc.lang, ()):
        tally.interchangeable[pair] += 1
        return doc
    tally.disagreements[pair] += 1
    if settings.on_disagreement == "drop":
        return Rejection(STAGE, "language_mismatch", f"declared {doc.lang}, detected {detected}")
    return doc
