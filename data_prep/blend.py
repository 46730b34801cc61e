"""Datamix target + measured tokens (tokens.json) -> Megatron blend weights, epochs and a readable report.

Each datamix row is matched to prepared prefixes by (lang, source): a prefix matches when its lang is one of the
row's languages and its source equals the row's source (a row source "*" matches any source). `mapping` overrides
this per row (row key "group/label" -> prepared keys). A row's target is split over its prefixes in proportion to
their available tokens (natural sampling inside a row). A prefix's weight is its target over the sum of targets, so
Megatron draws it in proportion to its target; epochs = target / available (> 1: the data is repeated).
The datamix is not repaired: its `validate` findings are copied into the report as warnings.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from data_prep.datamix import ANY_SOURCE, Datamix, DatamixRow, load, validate

log = logging.getLogger(__name__)


@dataclass
class BlendSettings:
    budget_tokens: int | None = None  # override the datamix budget (smoke runs); row targets scale with it
    max_epochs: float = 4.0  # warn when a prefix must be repeated more often than this
    drop_missing: bool = False  # drop (and report) datamix rows without prepared data instead of failing
    mapping: dict[str, list[str]] = field(default_factory=dict)  # row key "group/label" -> prepared keys


@dataclass
class BlendEntry:
    prefix: str  # absolute path prefix of the .bin/.idx
    key: str
    row: str
    lang: str
    source: str
    available_tokens: int
    target_tokens: float
    weight: float
    epochs: float


@dataclass
class BlendSummary:
    blend_json: str
    report_md: str
    chart_png: str
    budget_tokens: int
    entries: list[BlendEntry] = field(default_factory=list)
    dropped_rows: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _matches(row: DatamixRow, prefix: dict, mapping: dict[str, list[str]]) -> bool:
    if row.key in mapping:
        return prefix["key"] in mapping[row.key]
    return prefix["lang"] in row.languages and row.source in (ANY_SOURCE, prefix["source"])


def compute(mix: Datamix, prepared: list[dict], prepared_root: Path, settings: BlendSettings) -> BlendSummary:
    """Weights and epochs per prepared prefix; no files written."""
    budget = settings.budget_tokens or mix.budget_tokens
    scale = budget / mix.budget_tokens
    warnings = [f"datamix {mix.name}: {p.message}" for p in validate(mix)]
    unknown = set(settings.mapping) - {r.key for r in mix.rows}
    if unknown:
        raise ValueError(
            f"BlendSettings.mapping names rows {sorted(unknown)} that the datamix lacks; "
            f"row keys are {[r.key for r in mix.rows]}"
        )
    entries, dropped, used = [], [], set()
    for row in mix.rows:
        matched = [p for p in prepared if _matches(row, p, settings.mapping) and p["tokens"] > 0]
        if not matched:
            msg = (
                f"datamix row {row.key} (languages {row.languages}, source {row.source!r}) has no prepared data "
                f"in tokens.json; tokenise it, map it with BlendSettings.mapping, or set drop_missing"
            )
            if not settings.drop_missing:
                raise ValueError(msg)
            dropped.append(row.key)
            warnings.append(f"dropped row {row.key}: no prepared data")
            continue
        available = sum(p["tokens"] for p in matched)
        for p in matched:
            if p["key"] in used:
                raise ValueError(
                    f"prepared prefix {p['key']} matches more than one datamix row (again in {row.key}); "
                    f"disambiguate with BlendSettings.mapping"
                )
            used.add(p["key"])
            target = row.tokens * scale * p["tokens"] / available
            entries.append(
                BlendEntry(
                    str((prepared_root / p["prefix"]).resolve()),
                    p["key"],
                    row.key,
                    p["lang"],
                    p["source"],
                    p["tokens"],
                    target,
                    0.0,
                    target / p["tokens"],
                )
            )
    total = sum(e.target_tokens for e in entries)
    for e in entries:
        e.weight = e.target_tokens / total
        if e.epochs > settings.max_epochs:
            warnings.append(
                f"{e.key} ({e.row}): {e.epochs:.2f} epochs over its {e.available_tokens:,} tokens "
                f"exceeds max_epochs={settings.max_epochs}"
            )
    for w in warnings:
        log.warning(w)
    return BlendSummary("", "", "", budget, entries, dropped, warnings)


def _report(summary: BlendSummary, mix: Datamix) -> str:
    lines = [
        f"# Blend for datamix `{mix.name}`",
        "",
        f"Budget: {summary.budget_tokens:,} tokens.",
        "",
        "| prefix | row | lang | available tokens | target tokens | weight | epochs |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for e in summary.entries:
        lines.append(
            f"| {e.key} | {e.row} | {e.lang} | {e.available_tokens:,} | {e.target_tokens:,.0f} | "
            f"{e.weight:.4f} | {e.epochs:.2f} |"
        )
    if summary.dropped_rows:
        lines += ["", "Dropped rows (no prepared data): " + ", ".join(summary.dropped_rows)]
    if summary.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in summary.warnings]
    return "\n".join(lines) + "\n"


def _chart(summary: BlendSummary, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = sorted({e.lang for e in summary.entries})
    target = [sum(e.target_tokens for e in summary.entries if e.lang == lang) for lang in langs]
    available = [sum(e.available_tokens for e in summary.entries if e.lang == lang) for lang in langs]
    xs = range(len(langs))
    fig, ax = plt.subplots(figsize=(max(6, len(langs) * 0.8), 4))
    ax.bar([x - 0.2 for x in xs], target, width=0.4, label="target")
    ax.bar([x + 0.2 for x in xs], available, width=0.4, label="available")
    ax.set_xticks(list(xs), langs)
    ax.set_ylabel("tokens")
    ax.set_title("Target vs available tokens per language")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(settings: BlendSettings, datamix_path: str, tokens_json: str, output_dir: str) -> BlendSummary:
    """Write blend.json (`{"blend": [[prefix, ...], [weight, ...]], ...}`), blend.md and blend.png."""
    mix = load(datamix_path)
    prepared = json.loads(Path(tokens_json).read_text())["prefixes"]
    summary = compute(mix, prepared, Path(tokens_json).parent, settings)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary.blend_json, summary.report_md, summary.chart_png = (
        str(out / n) for n in ("blend.json", "blend.md", "blend.png")
    )
    payload = {
        "blend": [[e.prefix for e in summary.entries], [e.weight for e in summary.entries]],
        "budget_tokens": summary.budget_tokens,
        "datamix": mix.name,
        "entries": [asdict(e) for e in summary.entries],
        "dropped_rows": summary.dropped_rows,
        "warnings": summary.warnings,
    }
    Path(summary.blend_json).write_text(json.dumps(payload, indent=2))
    Path(summary.report_md).write_text(_report(summary, mix))
    _chart(summary, Path(summary.chart_png))
    return summary
