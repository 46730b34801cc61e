"""Gopher/FineWeb-style heuristic quality filters, script-aware, each rejection naming its rule and measured value.

Thresholds default to Gopher's (Rae et al. 2021, appendix A), as datatrove's GopherQualityFilter and
GopherRepetitionFilter use them; a threshold of None turns its rule off. Words come from `data_prep.segment`, so
Thai, Khmer, Lao, Burmese and Chinese are counted in words (or word estimates), not as one giant "word".
The prose rules (word length, symbols, ellipsis, bullets, repeated lines and n-grams) do not apply to code,
whose short repeated lines and symbols are normal; code gets the length bounds only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from data_prep.documents import Document, Rejection
from data_prep.segment import cluster_length, units, word_count
from recipes.core.languages import CODE, language_spec

STAGE = "quality"
BULLETS = ("•", "‣", "⁃", "◦", "▪", "●", "-", "*", "·")
ELLIPSES = ("...", "…")


@dataclass
class QualitySettings:
    min_words: float | None = 50
    max_words: float | None = 100_000
    min_mean_word_length: float | None = 3  # grapheme clusters, spaced scripts only
    max_mean_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1  # ("#" + ellipses) per word
    max_ellipsis_line_fraction: float | None = 0.3
    max_bullet_line_fraction: float | None = 0.9
    max_duplicate_line_fraction: float | None = 0.3
    # n -> maximum fraction of characters (in words) covered by the most frequent n-gram when it repeats
    max_top_ngram_fraction: dict[int, float] = field(default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16})


def check_quality(doc: Document, settings: QualitySettings) -> Rejection | None:
    """The first rule `doc` breaks, or None when it passes them all."""
    words = units(doc.text, doc.lang)
    count = word_count(doc.text, doc.lang, words)
    if settings.min_words is not None and count < settings.min_words:
        return _reject("min_words", f"{count:.0f} words < {settings.min_words}")
    if settings.max_words is not None and count > settings.max_words:
        return _reject("max_words", f"{count:.0f} words > {settings.max_words}")
    if doc.lang == CODE:
        return None
    return _word_shape(doc, words, count, settings) or _line_shape(doc.text, settings) or _repetition(words, settings)


def _reject(rule: str, detail: str) -> Rejection:
    return Rejection(STAGE, rule, detail)


def _word_shape(doc: Document, words: list[str], count: float, settings: QualitySettings) -> Rejection | None:
    if language_spec(doc.lang).spaced and words:
        mean = sum(cluster_length(w) for w in words) / len(words)
        if settings.min_mean_word_length is not None and mean < settings.min_mean_word_length:
            return _reject("mean_word_length", f"mean word length {mean:.2f} < {settings.min_mean_word_length}")
        if settings.max_mean_word_length is not None and mean > settings.max_mean_word_length:
            return _reject("mean_word_length", f"mean word length {mean:.2f} > {settings.max_mean_word_length}")
    if settings.max_symbol_word_ratio is not None and count:
        symbols = doc.text.count("#") + sum(doc.text.count(e) for e in ELLIPSES)
        ratio = symbols / count
        if ratio > settings.max_symbol_word_ratio:
            return _reject(
                "symbol_word_ratio",
                f"{symbols} symbols per {count:.0f} words = {ratio:.3f} > {settings.max_symbol_word_ratio}",
            )
    return None


def _line_shape(text: str, settings: QualitySettings) -> Rejection | None:
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if not lines:
        return None
    checks = (
        (
            "ellipsis_lines",
            settings.max_ellipsis_line_fraction,
            sum(line.endswith(ELLIPSES) for line in lines),
            "end with an ellipsis",
        ),
        (
            "bullet_lines",
            settings.max_bullet_line_fraction,
            sum(line.startswith(BULLETS) for line in lines),
            "start with a bullet",
        ),
        (
            "duplicate_lines",
            settings.max_duplicate_line_fraction,
            len(lines) - len(set(lines)),
            "repeat an earlier line",
        ),
    )
    for rule, limit, hits, what in checks:
        if limit is not None and hits / len(lines) > limit:
            return _reject(rule, f"{hits} of {len(lines)} lines {what} = {hits / len(lines):.2f} > {limit}")
    return None


def _repetition(words: list[str], settings: QualitySettings) -> Rejection | None:
    total_chars = sum(len(w) for w in words)
    for n, limit in sorted(settings.max_top_ngram_fraction.items()):
        if len(words) < n or not total_chars:
            continue
        ngram, repeats = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1)).most_common(1)[0]
        if repeats < 2:
            continue
        fraction = repeats * sum(len(w) for w in ngram) / total_chars
        if fraction > limit:
            return _reject(
                f"top_{n}gram", f"{' '.join(ngram)!r} x{repeats} covers {fraction:.2f} of the characters > {limit}"
            )
    return None
