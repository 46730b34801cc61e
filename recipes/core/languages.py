"""The languages this repo knows: the script each is written in, how its words are counted, its name, which
languages a detector confuses, and what language ID does when it disagrees with a declared label.

One table so that curation (script check, word counter, shingler, language ID), the CLAIR prompts, the RL rewards
and the eval metrics agree on what a language is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LanguageSpec:
    code: str
    script: str | None  # Unicode script name for `regex`'s \\p{...}; None: no script check (code)
    spaced: bool  # words are separated by spaces; False: count letters and divide by `letters_per_word`
    letters_per_word: float = 1.0  # average letter clusters per word, for unspaced scripts only


# Letters-per-word of the unspaced scripts are rough averages of grapheme clusters per word: Chinese words average
# about 1.5 characters, Khmer and Burmese words about 2.5 clusters, Lao about 3 (its spacing vowels are clusters of
# their own). Thai is counted with pythainlp's dictionary segmenter instead, so its constant is only a fallback.
LANGUAGES: dict[str, LanguageSpec] = {
    spec.code: spec
    for spec in (
        LanguageSpec("en", "Latin", True),
        LanguageSpec("id", "Latin", True),
        LanguageSpec("ms", "Latin", True),
        LanguageSpec("tl", "Latin", True),
        LanguageSpec("vi", "Latin", True),
        LanguageSpec("ta", "Tamil", True),
        LanguageSpec("th", "Thai", False, 2.5),
        LanguageSpec("km", "Khmer", False, 2.5),
        LanguageSpec("lo", "Lao", False, 3.0),
        LanguageSpec("my", "Myanmar", False, 2.5),
        LanguageSpec("zh", "Han", False, 1.5),
        LanguageSpec("code", None, True),
    )
}

CODE = "code"

# Languages a language-ID model confuses with each other often enough that disagreement is not evidence of a
# mislabel (Indonesian and Malay share most of their vocabulary; SEA-IFEval accepts either for the other).
# Counted, but treated as agreement.
INTERCHANGEABLE: dict[str, frozenset[str]] = {"id": frozenset({"ms"}), "ms": frozenset({"id"})}
# What curation does with a document whose detected language differs from its declared one (data_prep.on_language_
# disagreement): keep it (recorded and counted) or drop it.
LANGID_POLICIES = ("keep", "drop")

# English names, for prompts that name the target language (the CLAIR reviser is instructed in English).
LANGUAGE_NAMES = {
    "en": "English",
    "zh": "Chinese",
    "vi": "Vietnamese",
    "id": "Indonesian",
    "th": "Thai",
    "tl": "Tagalog (Filipino)",
    "ta": "Tamil",
    "ms": "Malay",
    "km": "Khmer",
    "lo": "Lao",
    "my": "Burmese (Myanmar)",
}


def same_language(detected: str, expected: str) -> bool:
    """The detected language is the expected one, or one a detector cannot tell from it (Indonesian/Malay)."""
    return detected == expected or detected in INTERCHANGEABLE.get(expected, ())


# How hub datasets name the same languages: ISO 639-3 (FineWeb-2's `tha_Thai`, with its script suffix dropped),
# macrolanguage members (cmn, zsm) and common 639-1/-3 variants. Only exact keys map; anything else stays unknown.
ALIASES: dict[str, str] = {
    "eng": "en",
    "zho": "zh",
    "cmn": "zh",
    "vie": "vi",
    "ind": "id",
    "tha": "th",
    "tgl": "tl",
    "fil": "tl",
    "tam": "ta",
    "msa": "ms",
    "zsm": "ms",
    "khm": "km",
    "lao": "lo",
    "mya": "my",
    "bur": "my",
}


def normalise_code(code: object) -> object:
    """A record's language value in this table's codes where it is a known alias (`tha_Thai` -> `th`); else as is."""
    if not isinstance(code, str):
        return code
    base = code.split("_", 1)[0].lower() if "_" in code else code
    return ALIASES.get(base, base if base in LANGUAGES else code)


def language_spec(code: str) -> LanguageSpec:
    try:
        return LANGUAGES[code]
    except KeyError:
        raise ValueError(f"unknown language code {code!r}; expected one of {', '.join(LANGUAGES)}") from None
