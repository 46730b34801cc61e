"""Scoring functions used by SEA-HELM-style evaluations.

ROUGE-L follows SEA-HELM's multilingual variant (its `src/rouge_score`), over the words of `recipes.core.word_tokens`;
the language check of SEA-IFEval is `recipes.core.language_id`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from recipes.core.language_id import response_in_language
from recipes.core.word_tokens import SeaRougeTokenizer


def chrf_plus_plus(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF++ (character 6-grams + word bigrams), 0..100."""
    from sacrebleu.metrics import CHRF  # here: importing this module needs no eval extra

    _same_length(predictions, references)
    return CHRF(word_order=2).corpus_score(list(predictions), [list(references)]).score


def rouge_l(predictions: Sequence[str], references: Sequence[str], language: str | None = None) -> float:
    """Mean ROUGE-L F1 over pairs, 0..100, with the script-aware tokenizer for `language` (ISO 639-1)."""
    _same_length(predictions, references)
    if not predictions:
        raise ValueError("rouge_l: predictions is empty; pass at least one prediction/reference pair")
    from rouge_score import rouge_scorer  # here: importing this module needs no eval extra

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
