"""Turn the stored verdicts into numbers: win rates per language and criterion with bootstrap intervals, Fleiss'
kappa over every rater of the items judged at least twice, a PNG, `review.json`, and a `native_review` suite in
both versions' records."""

from __future__ import annotations

import json
import textwrap
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from recipes.artifacts.versions import Registry  # noqa: E402
from recipes.review.report_section import ALL, SUITE, language_order  # noqa: E402
from recipes.review.stats import WinRate, verdict_agreement, win_rate_b  # noqa: E402
from recipes.review.store import ABSTAIN, CHOICES, CRITERIA, Store  # noqa: E402


@dataclass(frozen=True)
class LanguageResult:
    language: str
    overall: WinRate  # of version b
    both_bad: float  # share of verdicts saying both responses are bad
    kappa: float | None
    kappa_items: int
    criteria: dict[str, WinRate]
    abstained: int  # skipped or "cannot judge": in no statistic
    harmful_a: int  # verdicts flagging version a's response as harmful
    harmful_b: int


def summarise(store: Store, resamples: int = 2000, seed: int = 0) -> list[LanguageResult]:
    """One result per language plus the pooled `all`, each from the verdicts in version terms; abstentions are
    counted but judge nothing."""
    by_language: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    abstained: dict[str, int] = defaultdict(int)
    for item, verdict in store.verdicts():
        for language in (item.language, ALL):
            if verdict.choice in ABSTAIN:
                abstained[language] += 1
            else:
                by_language[language][item.id].append(verdict)
    if not by_language:
        raise ValueError("the review database holds no verdicts yet: nothing to export")
    results = []
    for language in sorted(by_language, key=language_order):
        items = list(by_language[language].values())
        flat = [v for verdicts in items for v in verdicts]
        choices = [[v.choice for v in verdicts] for verdicts in items]
        criteria = {}
        for name in CRITERIA:
            given = [[getattr(v, name) for v in verdicts if getattr(v, name)] for verdicts in items]
            if any(given):
                criteria[name] = win_rate_b(given, resamples, seed)
        kappa, kappa_items = verdict_agreement(choices, CHOICES)
        both_bad = sum(c.count("both_bad") for c in choices) / sum(len(c) for c in choices)
        results.append(
            LanguageResult(
                language,
                win_rate_b(choices, resamples, seed),
                both_bad,
                kappa,
                kappa_items,
                criteria,
                abstained[language],
                sum(v.harmful_a for v in flat),
                sum(v.harmful_b for v in flat),
            )
        )
    return results


def record_scores(results: list[LanguageResult], opponent: str, for_b: bool) -> dict[str, Any]:
    """The `native_review` scores of one version: its own win rates against `opponent`."""

    def view(rate: WinRate) -> dict[str, Any]:
        return asdict(rate if for_b else rate.flipped())

    languages = {}
    for r in results:
        entry = {
            **view(r.overall),
            "both_bad": r.both_bad,
            "kappa_items": r.kappa_items,
            "harmful": r.harmful_b if for_b else r.harmful_a,
            "abstained": r.abstained,
            "criteria": {name: view(rate) for name, rate in r.criteria.items()},
        }
        if r.kappa is not None:
            entry["kappa"] = r.kappa
        languages[r.language] = entry
    return {"opponent": opponent, "languages": languages}


def chart(results: list[LanguageResult], version_a: str, version_b: str) -> plt.Figure:
    """Win rate of b per language, overall and per criterion, with the 95% intervals; 50% is a draw. The legend
    sits below the axes (never over a bar) and the title wraps (never cut)."""
    series: dict[str, list[WinRate | None]] = {"overall": [r.overall for r in results]}  # None: not judged
    series.update({CRITERIA[name].label: [r.criteria.get(name) for r in results] for name in CRITERIA})
    width = 0.8 / len(series)
    x = np.arange(len(results))
    fig, ax = plt.subplots(figsize=(max(7.0, 1.6 * len(results) + 2), 5.2), layout="constrained")
    for i, (label, rates) in enumerate(series.items()):
        means = [r.win_rate * 100 if r else np.nan for r in rates]
        err = np.array(
            [[(r.win_rate - r.ci_low) * 100, (r.ci_high - r.win_rate) * 100] if r else [0, 0] for r in rates]
        ).T
        ax.bar(x + (i - (len(series) - 1) / 2) * width, means, width, yerr=err, capsize=3, label=label)
    ax.axhline(50, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(x, [r.language for r in results])
    ax.set_ylim(0, 100)
    ax.set_ylabel("win rate (%); 50 is a draw")
    title = f"Native-speaker review: {version_b} vs {version_a}, win rate of {version_b} (95% bootstrap CI)"
    ax.set_title("\n".join(textwrap.wrap(title, width=int(fig.get_figwidth() * 11))), fontsize=11)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize=8, frameon=False)
    return fig


def plot(results: list[LanguageResult], version_a: str, version_b: str, path: Path) -> Path:
    fig = chart(results, version_a, version_b)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def export(
    store: Store, registry: Registry, output_dir: str | Path, resamples: int = 2000, seed: int = 0
) -> dict[str, str]:
    """Write review.json and review.png into `output_dir` and the scores into both versions' records."""
    comparison = store.comparison()
    a, b = registry.get(comparison.version_a), registry.get(comparison.version_b)  # fail before writing anything
    results = summarise(store, resamples, seed)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "version_a": a.id,
        "version_b": b.id,
        "win_rate_of": b.id,
        "resamples": resamples,
        "seed": seed,
        "languages": {r.language: asdict(r) for r in results},
    }
    (out / "review.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    png = plot(results, a.id, b.id, out / "review.png")
    registry.add_metrics(a.id, SUITE, record_scores(results, b.id, for_b=False))
    registry.add_metrics(b.id, SUITE, record_scores(results, a.id, for_b=True))
    return {"json": str(out / "review.json"), "png": str(png)}
