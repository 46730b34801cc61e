"""Script-aware words: what the quality filters count and what near-dedup shingles.

Spaced scripts (Latin, Tamil, code) split on whitespace. Thai has no spaces between words, so pythainlp's
dictionary segmenter (newmm) finds them. Khmer, Lao, Burmese and Chinese have no segmenter among the
dependencies: their unit is the grapheme cluster (a base letter with its marks, so a Khmer subscript consonant
or a Burmese vowel sign is not a unit of its own), and word counts divide clusters by the language's average
clusters per word. Burmese spaces separate phrases, not words, so it is counted in clusters too.
"""

from __future__ import annotations

import regex

from recipes.core.languages import language_spec

_CLUSTER = regex.compile(r"\X")
_HAS_LETTER_OR_DIGIT = regex.compile(r"[\p{L}\p{N}]")


def units(text: str, lang: str) -> list[str]:
    """Words for spaced scripts and Thai; grapheme clusters holding a letter or digit for the other scripts."""
    if language_spec(lang).spaced:
        return text.split()
    if lang == "th":
        from pythainlp.tokenize import word_tokenize

        return [w for w in word_tokenize(text, engine="newmm", keep_whitespace=False) if not w.isspace()]
    return [c for c in _CLUSTER.findall(text) if _HAS_LETTER_OR_DIGIT.search(c)]


def word_count(text: str, lang: str, text_units: list[str] | None = None) -> float:
    """Words in `text`; for cluster-unit scripts an estimate (clusters / average clusters per word)."""
    found = units(text, lang) if text_units is None else text_units
    spec = language_spec(lang)
    if spec.spaced or lang == "th":
        return float(len(found))
    return len(found) / spec.letters_per_word


def cluster_length(word: str) -> int:
    """Length in grapheme clusters: what a reader calls characters, in any script."""
    return len(_CLUSTER.findall(word))
