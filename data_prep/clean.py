"""Text normalisation and the script check: the same text in one canonical form, in the script it claims.

- NFC first, so that the same word composed two ways hashes, counts and tokenises the same.
- Control characters (Unicode Cc) go, except \\n and \\t; \\r\\n and \\r become \\n. Format characters (Cf) stay:
  zero-width (non-)joiners and the zero-width space are part of correct Khmer, Burmese and Indic text.
- Whitespace: trailing spaces go, runs of blank lines become one blank line; inside prose lines every run of
  spaces (any Unicode space separator) becomes one space. Code keeps its indentation and inner spacing.
- The script check counts letters only (digits, punctuation and emoji are shared by all scripts) and rejects a
  document whose letters are mostly not in its declared language's script: a mislabelled file, a wrong
  `lang`, or transliterated text.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

import regex

from data_prep.documents import Document, Rejection
from recipes.core.languages import CODE, language_spec

STAGE = "clean"

_CONTROL = regex.compile(r"[^\P{Cc}\n\t]", flags=regex.V1)
_SPACE_RUN = regex.compile(r"[\p{Zs}\t]+")
_TRAILING_SPACE = regex.compile(r"[\p{Zs}\t]+$", flags=regex.MULTILINE)
_BLANK_LINES = regex.compile(r"\n{3,}")
_LETTER = regex.compile(r"\p{L}")


@dataclass
class CleanSettings:
    min_script_fraction: float = 0.5  # of letters in the declared language's script


def normalise_text(text: str, lang: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _TRAILING_SPACE.sub("", text)
    if lang != CODE:
        text = "\n".join(_SPACE_RUN.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip("\n")


def script_fraction(text: str, script: str) -> tuple[float, int]:
    """(fraction of letters in `script`, number of letters)."""
    letters = _LETTER.findall(text)
    if not letters:
        return 0.0, 0
    in_script = _script_letter(script).findall(text)
    return len(in_script) / len(letters), len(letters)


@cache
def _script_letter(script: str) -> regex.Pattern:
    return regex.compile(rf"[\p{{L}}&&\p{{Script={script}}}]", flags=regex.V1)


def clean_document(doc: Document, settings: CleanSettings) -> Document | Rejection:
    text = normalise_text(doc.text, doc.lang)
    if not text.strip():
        return Rejection(STAGE, "empty_after_cleaning", "only control characters and whitespace")
    spec = language_spec(doc.lang)
    if spec.script is not None:
        fraction, letters = script_fraction(text, spec.script)
        if letters == 0:
            return Rejection(STAGE, "no_letters", f"no letters at all, expected {spec.script} script")
        if fraction < settings.min_script_fraction:
            return Rejection(
                STAGE,
                "wrong_script",
                f"{fraction:.2f} of {letters} letters are {spec.script} "
                f"(declared {doc.lang}); minimum {settings.min_script_fraction}",
            )
    doc.text = text
    return doc
