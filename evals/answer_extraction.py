"""Answer extraction after a per-language answer tag, as SEA-HELM's F1AccMetric does it.

SEA-HELM searches `answer_tag[\\s*]*(label1|label2|...)+` case-insensitively; when the tag is missing it falls back
to the whole response, which only counts if it is exactly a label once lower-cased and stripped of punctuation.
Anything else is "no answer" (None here, "null" in SEA-HELM).
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence


def _normalise(text: str) -> str:
    """SEA-HELM's answer normalisation: lower-case, strip punctuation/whitespace at the ends, squash spaces."""
    return " ".join(text.lower().strip(string.punctuation + " \n").split())


def extract_answer(response: str | None, answer_tag: str, labels: Sequence[str]) -> str | None:
    """The label the response commits to after `answer_tag`, or None when it gives none of `labels`."""
    if not labels:
        raise ValueError("extract_answer: labels is empty; pass the task's option labels, e.g. ['A','B','C','D']")
    if response is None:
        return None
    label_map = {label.lower(): label for label in labels}
    alternatives = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    match = re.search(re.escape(answer_tag) + rf"[\s*]*({alternatives})+", response, flags=re.IGNORECASE)
    candidate = match.group(1) if match else response
    return label_map.get(_normalise(candidate))
