"""SEA-HELM's aggregation: task -> competency -> language -> SEA average, computed per seed (run), then
summarised across seeds as a mean with a percentile-bootstrap confidence interval (fixed RNG, reproducible)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# SEA-HELM's SEA average covers the Southeast-Asian languages only (English and Chinese are reported, not averaged).
SEA_LANGUAGES = ("id", "vi", "th", "ta", "tl", "ms", "my", "km", "lo", "jv", "su")


@dataclass(frozen=True)
class TaskScore:
    """One normalised task score (0..100) for one language in one evaluation run."""

    task: str
    competency: str
    language: str
    score: float
    seed: int = 0


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values)


def per_seed_levels(scores: Sequence[TaskScore], sea_languages: Sequence[str] = SEA_LANGUAGES) -> dict[int, dict]:
    """Per seed: tasks[(task, lang)], competencies[(lang, competency)], languages[lang] and sea_average, each the
    plain mean of the level below (SEA-HELM's macro averages)."""
    by_seed: dict[int, list[TaskScore]] = defaultdict(list)
    for s in scores:
        by_seed[s.seed].append(s)
    levels = {}
    for seed, rows in by_seed.items():
        tasks: dict[tuple[str, str], list[float]] = defaultdict(list)
        competency_of: dict[str, str] = {}
        for r in rows:
            tasks[(r.task, r.language)].append(r.score)
            competency_of[r.task] = r.competency
        task_scores = {key: _mean(v) for key, v in tasks.items()}
        comp: dict[tuple[str, str], list[float]] = defaultdict(list)
        for (task, lang), value in task_scores.items():
            comp[(lang, competency_of[task])].append(value)
        comp_scores = {key: _mean(v) for key, v in comp.items()}
        lang_lists: dict[str, list[float]] = defaultdict(list)
        for (lang, _), value in comp_scores.items():
            lang_lists[lang].append(value)
        lang_scores = {lang: _mean(v) for lang, v in lang_lists.items()}
        sea = [v for lang, v in lang_scores.items() if lang in sea_languages]
        levels[seed] = {
            "tasks": task_scores,
            "competencies": comp_scores,
            "languages": lang_scores,
            "sea_average": _mean(sea) if sea else None,
        }
    return levels


def bootstrap_ci(values: Sequence[float], n_resamples: int = 1000, confidence: float = 0.95, rng_seed: int = 0):
    """Mean of `values` and a percentile-bootstrap interval of the mean (degenerate for a single value)."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("bootstrap_ci: no values; need at least one seed")
    mean = float(arr.mean())
    if arr.size == 1:
        return {"mean": mean, "ci_low": mean, "ci_high": mean, "n": 1}
    rng = np.random.default_rng(rng_seed)
    means = rng.choice(arr, size=(n_resamples, arr.size), replace=True).mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return {"mean": mean, "ci_low": float(low), "ci_high": float(high), "n": int(arr.size)}


def aggregate(
    scores: Sequence[TaskScore],
    sea_languages: Sequence[str] = SEA_LANGUAGES,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    rng_seed: int = 0,
) -> dict:
    """Nested results: tasks[task][lang], competencies[lang][competency], languages[lang], sea_average; each a
    {"mean", "ci_low", "ci_high", "n"} over seeds. Only entries present in every seed are summarised."""
    if not scores:
        raise ValueError("aggregate: no scores; pass at least one TaskScore")
    levels = list(per_seed_levels(scores, sea_languages).values())

    def summarise(level: str) -> dict:
        keys = set.intersection(*(set(lv[level]) for lv in levels))
        return {k: bootstrap_ci([lv[level][k] for lv in levels], n_resamples, confidence, rng_seed) for k in keys}

    out: dict = {"tasks": defaultdict(dict), "competencies": defaultdict(dict), "n_seeds": len(levels)}
    for (task, lang), stat in summarise("tasks").items():
        out["tasks"][task][lang] = stat
    for (lang, competency), stat in summarise("competencies").items():
        out["competencies"][lang][competency] = stat
    out["tasks"], out["competencies"] = dict(out["tasks"]), dict(out["competencies"])
    out["languages"] = summarise("languages")
    sea = [lv["sea_average"] for lv in levels if lv["sea_average"] is not None]
    out["sea_average"] = bootstrap_ci(sea, n_resamples, confidence, rng_seed) if len(sea) == len(levels) else None
    return out
