"""Words as SEA-HELM's multilingual ROUGE counts them (its `src/rouge_score`): text is lower-cased, punctuation
(Unicode class P plus non-alphanumeric ASCII) splits words, CJK ideographs become single tokens, Burmese is segmented
into syllables, and Thai is word-segmented with pythainlp's newmm engine (SEA-HELM's choice). ROUGE-L
(`evals.metrics.rouge_l`) and the IFEval word counts (`recipes.posttrain.text_units`) both count these units.
"""

from __future__ import annotations

import unicodedata


def _is_punctuation(char: str) -> bool:
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(char: str) -> bool:
    cp = ord(char)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _basic_tokens(text: str) -> list[str]:
    """Whitespace split, then split on punctuation (dropping it), with each CJK ideograph its own token."""
    spaced = "".join(f" {c} " if _is_cjk(c) else c for c in text if not unicodedata.category(c).startswith("C"))
    tokens: list[str] = []
    for word in spaced.split():
        current = ""
        for char in word:
            if _is_punctuation(char):
                if current:
                    tokens.append(current)
                current = ""
            else:
                current += char
        if current:
            tokens.append(current)
    return tokens


_MY_ASAT, _MY_DOT_BELOW, _MY_STACK = "\u103a", "\u1037", "\u1039"
_MY_DEPENDENT = {chr(c) for c in range(0x102B, 0x1033)} | {chr(c) for c in range(0x1036, 0x1039)}
_MY_DEPENDENT |= {chr(c) for c in range(0x103B, 0x103F)} | {_MY_ASAT}


def _burmese_syllables(text: str) -> list[str]:
    """Syllable segmentation for Burmese (Ding et al. 2019, the rule SEA-HELM uses): dependent signs join the
    preceding consonant, short asat units join the previous syllable, stacked consonants stay together."""
    text = text.replace("\u200c", " ").replace(_MY_DOT_BELOW + _MY_ASAT, _MY_ASAT + _MY_DOT_BELOW)
    units = list("".join(text.strip().split()))
    for i in range(len(units) - 1, 0, -1):
        if units[i] and units[i][0] in _MY_DEPENDENT:
            units[i - 1] += units[i]
            units[i] = ""
    units = [u for u in units if u]
    for i in range(1, len(units)):
        if _MY_ASAT in units[i] and len(units[i]) < 4:
            units[i - 1] += units[i]
            units[i] = ""
    joined = " ".join(u for u in units if u).replace(f" {_MY_STACK} ", _MY_STACK)
    return _basic_tokens(joined)


def _thai_tokens(text: str) -> list[str]:
    from pythainlp.tokenize import word_tokenize

    return _basic_tokens(" ".join(word_tokenize(text, engine="newmm")))


class SeaRougeTokenizer:
    """A `rouge_score` tokenizer that handles SEA scripts the way SEA-HELM does."""

    def __init__(self, language: str | None = None):
        self.language = language

    def tokenize(self, text: str) -> list[str]:
        text = text.lower()
        if self.language == "my":
            return _burmese_syllables(text)
        if self.language == "th":
            return _thai_tokens(text)
        return _basic_tokens(text)
