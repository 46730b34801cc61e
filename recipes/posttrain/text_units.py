"""Script-aware word and sentence counting for the IFEval-style rewards.

Words, by language (ISO 639-1):
- th: pythainlp's newmm word segmentation (Thai has no spaces between words), punctuation dropped.
- my: syllables, by the segmentation SEA-HELM uses for Burmese (`recipes.core.word_tokens.SeaRougeTokenizer("my")`).
- km, lo: no word segmenter is installed, so a "word" is an orthographic cluster: a base letter with its
  combining marks, Khmer subscript consonants (coeng + consonant) and Lao pre- and post-posed vowels. That is close to a
  syllable (a final consonant written without a mark makes its own cluster); prompts in these languages should
  state their word targets in these units, counted with `count_words` when the data is built.
- everything else: runs of letters/digits split on whitespace and punctuation (IFEval's `\\w+`), with every Han
  character one word, as Chinese word counts usually are.

Sentences end at . ! ? followed by a space or the end, at the CJK, Burmese and Khmer full stops (。！？ ။ ។ ៕) and
at line breaks. Thai marks sentence ends with a space, not punctuation, so Thai text is also split at spaces
(pythainlp's "whitespace+newline" rule; a space inside a sentence over-counts).
"""

from __future__ import annotations

import re
import unicodedata

from pythainlp.tokenize import sent_tokenize

from recipes.core.word_tokens import SeaRougeTokenizer

_KHMER_COENG = "\u17d2"
_LAO_PREPOSED_VOWELS = {chr(c) for c in range(0x0EC0, 0x0EC5)}
_LAO_POSTPOSED_VOWELS = {"\u0eb0", "\u0eb2", "\u0eb3"}  # letters (Lo), not marks, yet part of the syllable
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？။។៕])\s*|\n+")


def _is_mark(char: str) -> bool:
    return unicodedata.category(char).startswith("M")


def _orthographic_clusters(text: str) -> list[str]:
    """Khmer/Lao clusters as the module docstring defines them."""
    clusters: list[str] = []
    current = ""
    joins_next = False  # the previous char binds the next letter to it (coeng, pre-posed vowel)
    for char in text:
        if _is_mark(char) or char == _KHMER_COENG or char in _LAO_POSTPOSED_VOWELS:
            if current:
                current += char
            joins_next = char == _KHMER_COENG
        elif char.isalnum():
            if current and joins_next:
                current += char
            else:
                if current:
                    clusters.append(current)
                current = char
            joins_next = char in _LAO_PREPOSED_VOWELS
        else:
            if current:
                clusters.append(current)
            current, joins_next = "", False
    if current:
        clusters.append(current)
    return clusters


def words(text: str, language: str) -> list[str]:
    text = unicodedata.normalize("NFC", text)
    if language in ("km", "lo"):
        return _orthographic_clusters(text)
    return SeaRougeTokenizer(language if language in ("th", "my") else None).tokenize(text)


def count_words(text: str, language: str) -> int:
    return len(words(text, language))


def sentences(text: str, language: str) -> list[str]:
    parts = [part.strip() for part in _SENTENCE_END.split(unicodedata.normalize("NFC", text))]
    if language == "th":
        parts = [piece for part in parts for piece in sent_tokenize(part, engine="whitespace+newline")]
    return [part for part in parts if any(char.isalnum() for char in part)]


def count_sentences(text: str, language: str) -> int:
    return len(sentences(text, language))
