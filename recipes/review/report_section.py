"""The native-speaker review rows of `recipes.report`: each version's `native_review` win rates from its record.

Reads only the registry's public API; a report of versions that were never reviewed (or labels that are not
registered versions) gets no extra table.
"""

from __future__ import annotations

from recipes.artifacts.versions import Registry, default_registry_root

SUITE = "native_review"  # the suite `python -m recipes.review export` writes
ALL = "all"  # its pooled row over every language


def language_order(code: str) -> tuple[bool, str]:
    """Sort key: languages alphabetically, the pooled row last."""
    return code == ALL, code


def _cell(entry: dict | None) -> str:
    if not entry:
        return "–"
    return (
        f"{entry['win_rate'] * 100:.1f} [{entry['ci_low'] * 100:.1f}, {entry['ci_high'] * 100:.1f}] "
        f"(n={entry['items']})"
    )


def review_tables(labels: list[str]) -> list[tuple[str, list[str], list[list[str]]]]:
    """("Native-speaker review", header, rows) in `evals.report`'s table shape, which `recipes.report` adds: win
    rate % [95% CI] per language, from the stages' registry (none there: no table)."""
    if not default_registry_root().is_dir():
        return []
    registry = Registry()
    reviewed = []
    for label in labels:
        try:
            record = registry.get(label)
        except KeyError:
            continue
        if SUITE in record.metrics:
            reviewed.append((label, record.metrics[SUITE]["scores"]))
    if not reviewed:
        return []
    header = ["language"] + [f"{label} vs {scores['opponent']}" for label, scores in reviewed]
    languages = sorted({lang for _, scores in reviewed for lang in scores["languages"]}, key=language_order)
    rows = [[lang] + [_cell(scores["languages"].get(lang)) for _, scores in reviewed] for lang in languages]
    return [("Native-speaker review: win rate % [95% CI] (items)", header, rows)]
