"""The pretraining datamix as data, and a validator that reports (never repairs) its inconsistencies.

A datamix has groups (the card's per-language totals) and rows (one source within a group: tokens and share of
the budget). `validate` checks three things, each within a relative tolerance:
  1. group shares add up to 100% and row shares add up to 100%;
  2. the rows of each group add up to the group's share;
  3. each row's token count equals its share of the budget (and rows' tokens add up to the budget).

Finding on the Gemma-SEA-LION-v4-27B model card's own table (conf/data/datamix/sealion_v4.yaml), pinned by
tests/data_prep/test_datamix.py:
  - Code 50B = 10%, EN 80+80+40 = 200B = 40%, VI 42.5B = 8.5%, ID 42.49B = 8.5%, ALL_LANG 77.5B = 15.5%: consistent.
  - TH rows: 5 x 3.035B + 9.107B + 21.25B = 42.497B (8.4994%); their printed shares add to 8.51% against the
    8.5% group total: a rounding difference (0.12%), inside the 0.5% tolerance.
  - ZH rows: 13.5B + 13.5B + 4.5B = 31.5B = 6.3%, but the ZH group total is 9%: 13.5B (2.7 points) is missing.
  - So the group totals add to 100% but the rows add to 97.31% and 486.487B tokens, not 500B.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ANY_SOURCE = "*"


@dataclass
class DatamixGroup:
    name: str = ""
    languages: list[str] = field(default_factory=list)
    share: float = 0.0  # percent of the budget


@dataclass
class DatamixRow:
    group: str = ""
    languages: list[str] = field(default_factory=list)
    source: str = ANY_SOURCE  # prepared-source id, or "*" for any source of these languages
    label: str = ""  # the name the model card prints
    tokens: int = 0
    share: float = 0.0  # percent of the budget

    @property
    def key(self) -> str:
        return f"{self.group}/{self.label or self.source}"


@dataclass
class Datamix:
    name: str = ""
    budget_tokens: int = 0
    pool_tokens: int | None = None
    groups: list[DatamixGroup] = field(default_factory=list)
    rows: list[DatamixRow] = field(default_factory=list)


@dataclass
class Inconsistency:
    check: str  # "total_share" | "group_sum" | "row_tokens" | "total_tokens"
    rows: list[str]  # keys of the rows (or groups) involved
    expected: float
    actual: float
    message: str


def _fields(cls, data: dict, where: str) -> dict:
    known = set(cls.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(known)}")
    return data


def load(path: str | Path) -> Datamix:
    """Read a datamix YAML (see conf/data/datamix/sealion_v4.yaml) into typed dataclasses."""
    raw = yaml.safe_load(Path(path).read_text())
    if not isinstance(raw, dict) or "rows" not in raw:
        raise ValueError(f"{path}: expected a mapping with 'groups' and 'rows'")
    groups = [
        DatamixGroup(**_fields(DatamixGroup, g, f"{path} groups[{i}]")) for i, g in enumerate(raw.get("groups", []))
    ]
    rows = [DatamixRow(**_fields(DatamixRow, r, f"{path} rows[{i}]")) for i, r in enumerate(raw["rows"])]
    top = {k: v for k, v in raw.items() if k not in ("groups", "rows")}
    mix = Datamix(**_fields(Datamix, top, str(path)), groups=groups, rows=rows)
    names = {g.name for g in groups}
    for i, row in enumerate(rows):
        if row.group not in names:
            raise ValueError(f"{path} rows[{i}].group={row.group!r} is not a group; groups are {sorted(names)}")
        if not row.languages:
            raise ValueError(f"{path} rows[{i}].languages is empty; list the row's language codes")
    if mix.budget_tokens <= 0:
        raise ValueError(f"{path}: budget_tokens must be > 0 (got {mix.budget_tokens})")
    return mix


def _off(expected: float, actual: float, rel_tolerance: float) -> bool:
    return abs(actual - expected) > rel_tolerance * max(abs(expected), 1e-12)


def validate(mix: Datamix, rel_tolerance: float = 0.005) -> list[Inconsistency]:
    """Every inconsistency of the table, each naming the rows involved; an empty list means consistent."""
    found: list[Inconsistency] = []
    group_total = sum(g.share for g in mix.groups)
    if _off(100.0, group_total, rel_tolerance):
        found.append(
            Inconsistency(
                "total_share",
                [g.name for g in mix.groups],
                100.0,
                group_total,
                f"group shares add to {group_total:.4g}%, not 100%",
            )
        )
    row_total = sum(r.share for r in mix.rows)
    if _off(100.0, row_total, rel_tolerance):
        found.append(
            Inconsistency(
                "total_share",
                [r.key for r in mix.rows],
                100.0,
                row_total,
                f"row shares add to {row_total:.4g}%, not 100%",
            )
        )
    for group in mix.groups:
        members = [r for r in mix.rows if r.group == group.name]
        share = sum(r.share for r in members)
        if _off(group.share, share, rel_tolerance):
            found.append(
                Inconsistency(
                    "group_sum",
                    [r.key for r in members],
                    group.share,
                    share,
                    f"group {group.name}: rows add to {share:.4g}%, group total is {group.share:.4g}%",
                )
            )
    for row in mix.rows:
        expected = row.share / 100.0 * mix.budget_tokens
        if _off(expected, row.tokens, rel_tolerance):
            found.append(
                Inconsistency(
                    "row_tokens",
                    [row.key],
                    expected,
                    row.tokens,
                    f"{row.key}: {row.tokens:,} tokens but {row.share}% of the budget is {expected:,.0f}",
                )
            )
    tokens = sum(r.tokens for r in mix.rows)
    if _off(mix.budget_tokens, tokens, rel_tolerance):
        found.append(
            Inconsistency(
                "total_tokens",
                [r.key for r in mix.rows],
                mix.budget_tokens,
                tokens,
                f"rows add to {tokens:,} tokens, the budget is {mix.budget_tokens:,}",
            )
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_prep.datamix", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("validate", help="check a datamix YAML; exit 1 if it is inconsistent")
    check.add_argument("path", help="datamix YAML, e.g. conf/data/datamix/sealion_v4.yaml")
    check.add_argument("--rel-tolerance", type=float, default=0.005, help="relative tolerance (default 0.005 = 0.5%%)")
    args = parser.parse_args(argv)
    mix = load(args.path)
    problems = validate(mix, args.rel_tolerance)
    for p in problems:
        print(f"[{p.check}] {p.message}")
    print(f"{mix.name}: {len(mix.rows)} rows, {len(mix.groups)} groups, {len(problems)} inconsistencies")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
