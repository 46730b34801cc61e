"""What was selected: counts per target and language (report.json) and a histogram of each target's scores with
the selection threshold marked (scores.png)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from .pool import Prompt


def counts(pool: list[Prompt], selected: dict[str, list[int]]) -> dict:
    """{target: {"selected": n, "by_language": {lang: n}}} plus the pool's own counts per language."""
    out = {
        "pool": {"size": len(pool), "by_language": dict(sorted(Counter(p.lang for p in pool).items()))},
        "targets": {},
    }
    for name, indices in selected.items():
        out["targets"][name] = {
            "selected": len(indices),
            "by_language": dict(sorted(Counter(pool[i].lang for i in indices).items())),
        }
    return out


def write(out_dir: Path, pool: list[Prompt], scores: dict, selected: dict[str, list[int]], bins: int = 40) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = counts(pool, selected)
    (out_dir / "report.json").write_text(json.dumps(summary, indent=2))
    fig, axes = plt.subplots(len(scores), 1, figsize=(7, 2.6 * len(scores)), squeeze=False)
    for ax, (name, score) in zip(axes[:, 0], scores.items()):
        ax.hist(score, bins=bins, color="#4477aa")
        ax.axvline(min(score[i] for i in selected[name]), color="#cc3311", linestyle="--", label="selection cut")
        ax.set_title(f"{name}: {len(selected[name])} of {len(score)} selected")
        ax.set_xlabel("LESS score")
        ax.set_ylabel("candidates")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "scores.png", dpi=100)
    plt.close(fig)
    return summary
