"""Compare evaluation results of several model versions: Markdown + HTML tables and PNG plots (per-language and
per-competency bars with confidence intervals, perplexity over training steps)."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from evals.review.report_section import review_tables  # noqa: E402

RESULT_NAMES = ("results.json", "perplexity.json")


# The suites of the eval stage's results.json, each under its own key ({"model", "seahelm": {... "aggregate"},
# "lm_eval": {... "aggregate", "tasks"}, "local_eval": <aggregate>, "perplexity"}, recipes/stages/eval.py); a file with a
# top-level "aggregate" (local_eval's own results.json, older files) is one suite named by its "source".
NESTED_SUITES = ("seahelm", "lm_eval")
LM_EVAL_NOTE = ("lm-eval: raw accuracies and exact-match rates x100 of each leaderboard group's headline metric, "
                "not the Open LLM Leaderboard's normalised (chance-corrected) scores")


@dataclass
class VersionResults:
    """Everything known about one model version, merged from one or more results files; scores keyed by suite."""

    label: str
    languages: dict[str, dict] = field(default_factory=dict)  # "suite/lang" -> stat
    competencies: dict[str, dict] = field(default_factory=dict)  # "suite/lang/competency" -> stat
    sea_average: dict[str, dict] = field(default_factory=dict)  # suite -> stat
    lm_eval_tasks: dict[str, float] = field(default_factory=dict)
    perplexity_series: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    perplexity: dict[str, float] = field(default_factory=dict)

    def add_suite(self, suite: str, agg: dict) -> None:
        self.languages.update({f"{suite}/{lang}": stat for lang, stat in agg.get("languages", {}).items()})
        for lang, comps in agg.get("competencies", {}).items():
            self.competencies.update({f"{suite}/{lang}/{c}": stat for c, stat in comps.items()})
        if agg.get("sea_average"):
            self.sea_average[suite] = agg["sea_average"]


def _suites(data: dict) -> dict[str, dict]:
    """Suite name -> its aggregate, for every suite in one results file."""
    suites = {name: data[name]["aggregate"] for name in NESTED_SUITES if isinstance(data.get(name), dict)}
    if isinstance(data.get("local_eval"), dict):
        suites["local_eval"] = data["local_eval"]
    if isinstance(data.get("aggregate"), dict):
        suites[str(data.get("source") or "results")] = data["aggregate"]
    return suites


def _result_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = [path / name for name in RESULT_NAMES if (path / name).is_file()]
    if not files:
        raise FileNotFoundError(f"{path}: no {' or '.join(RESULT_NAMES)} inside; pass a results JSON or its folder")
    return files


def load_versions(sources: list[str], resolver: Optional[Callable[[str], Path]] = None) -> list[VersionResults]:
    """Results per version, in first-seen order. A source that is not a path is passed to `resolver` (for version
    ids); the label is the results' "version", else the folder name of the results file."""
    versions: dict[str, VersionResults] = {}
    for source in sources:
        path = Path(source)
        if not path.exists():
            if resolver is None:
                raise FileNotFoundError(f"{source}: no such file or folder (version ids need a resolver)")
            path = Path(resolver(source))
        for f in _result_files(path):
            data = json.loads(f.read_text(encoding="utf-8"))
            label = str(data.get("version") or (f.parent.name if f.name in RESULT_NAMES else f.stem))
            v = versions.setdefault(label, VersionResults(label))
            for suite, agg in _suites(data).items():
                v.add_suite(suite, agg)
            if isinstance(data.get("lm_eval"), dict):
                v.lm_eval_tasks.update(data["lm_eval"].get("tasks", {}))
            if data.get("perplexity"):
                v.perplexity.update(data["perplexity"])
                if data.get("step") is not None:
                    v.perplexity_series.append((int(data["step"]), data["perplexity"]))
            v.perplexity_series += [(int(p["step"]), p["perplexity"]) for p in data.get("perplexity_series", [])]
    for v in versions.values():
        v.perplexity_series.sort(key=lambda point: point[0])
    if not versions:
        raise ValueError("no results given; pass at least one results JSON or folder")
    return list(versions.values())


def _grouped_bars(versions: list[VersionResults], attr: str, title: str, path: Path) -> Optional[Path]:
    keys = sorted({k for v in versions for k in getattr(v, attr)})
    if not keys:
        return None
    width = 0.8 / len(versions)
    x = np.arange(len(keys))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(keys) * max(1, len(versions) / 2) + 2), 4.5))
    for i, v in enumerate(versions):
        stats = [getattr(v, attr).get(k) for k in keys]
        means = [s["mean"] if s else np.nan for s in stats]
        err = np.array([[s["mean"] - s["ci_low"], s["ci_high"] - s["mean"]] if s else [0, 0] for s in stats]).T
        ax.bar(x + (i - (len(versions) - 1) / 2) * width, means, width, yerr=err, capsize=3, label=v.label)
    ax.set_xticks(x, keys, rotation=30 if len(keys) > 6 else 0, ha="right" if len(keys) > 6 else "center")
    ax.set_ylabel("normalised score (0-100)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(title="version", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _perplexity_curves(versions: list[VersionResults], path: Path) -> Optional[Path]:
    series = [(v, pts) for v in versions if len(pts := v.perplexity_series) > 1]
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    styles = ["-", "--", ":", "-."]
    for i, (v, points) in enumerate(series):
        for j, lang in enumerate(sorted({lang for _, ppl in points for lang in ppl})):
            steps = [s for s, ppl in points if lang in ppl]
            ax.plot(steps, [ppl[lang] for _, ppl in points if lang in ppl], styles[i % len(styles)], marker="o",
                    color=f"C{j}", label=f"{v.label} {lang}")
    ax.set_xlabel("training step")
    ax.set_ylabel("perplexity (log scale)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.set_title("Held-out perplexity per language")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _fmt(stat: Optional[dict]) -> str:
    if not stat:
        return "–"
    if stat["ci_high"] > stat["ci_low"]:
        return f"{stat['mean']:.1f} [{stat['ci_low']:.1f}, {stat['ci_high']:.1f}]"
    return f"{stat['mean']:.1f}"


def _tables(versions: list[VersionResults]) -> list[tuple[str, list[str], list[list[str]]]]:
    labels = [v.label for v in versions]
    tables = []
    suites = sorted({s for v in versions for s in v.sea_average})
    if suites:
        tables.append(("SEA average", ["version"] + [f"{s} [95% CI]" for s in suites],
                       [[v.label] + [_fmt(v.sea_average.get(s)) for s in suites] for v in versions]))
    for title, attr, column in (("Per language", "languages", "suite/language"),
                                ("Per language / competency", "competencies", "suite/language/competency")):
        keys = sorted({k for v in versions for k in getattr(v, attr)})
        if keys:
            tables.append((title, [column] + labels, [[k] + [_fmt(getattr(v, attr).get(k)) for v in versions]
                                                        for k in keys]))
    tasks = sorted({t for v in versions for t in v.lm_eval_tasks})
    if tasks:
        tables.append(("lm-eval tasks", ["task"] + labels,
                       [[t] + [f"{v.lm_eval_tasks[t]:.1f}" if t in v.lm_eval_tasks else "–" for v in versions]
                        for t in tasks]))
    langs = sorted({lang for v in versions for lang in v.perplexity})
    if langs:
        tables.append(("Perplexity (latest)", ["language"] + labels,
                       [[lang] + [f"{v.perplexity[lang]:.2f}" if lang in v.perplexity else "–" for v in versions]
                        for lang in langs]))
    return tables


def write_report(versions: list[VersionResults], output_dir: str | Path, title: str = "Evaluation report") -> dict:
    """Write report.md, report.html and the PNG plots into `output_dir`; returns their paths."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = [p for p in (
        _grouped_bars(versions, "languages", "Score per language (95% CI over seeds)", out / "languages.png"),
        _grouped_bars(versions, "competencies", "Score per language / competency", out / "competencies.png"),
        _perplexity_curves(versions, out / "perplexity.png"),
    ) if p is not None]
    tables = _tables(versions) + review_tables([v.label for v in versions])
    md = [f"# {title}", "", "Versions: " + ", ".join(v.label for v in versions), ""]
    body = [f"<h1>{html.escape(title)}</h1>"]
    for name, header, rows in tables:
        md += [f"## {name}", ""]
        body.append(f"<h2>{html.escape(name)}</h2>")
        if name == "lm-eval tasks":
            md += [f"{LM_EVAL_NOTE}.", ""]
            body.append(f"<p>{html.escape(LM_EVAL_NOTE)}.</p>")
        md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        md += ["| " + " | ".join(row) + " |" for row in rows] + [""]
        body.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header)
                    + "</tr>" + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                                        for row in rows) + "</table>")
    for plot in plots:
        md += [f"![{plot.stem}]({plot.name})", ""]
        body.append(f'<p><img src="{plot.name}" alt="{plot.stem}"></p>')
    style = "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    (out / "report.html").write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
                                     f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>",
                                     encoding="utf-8")
    return {"markdown": str(out / "report.md"), "html": str(out / "report.html"), "plots": [str(p) for p in plots]}


def run(sources: list[str], output_dir: str | Path, resolver: Optional[Callable[[str], Path]] = None,
        title: str = "Evaluation report") -> dict:
    """Load the results of every source (path or version id) and write the report; returns the written paths."""
    return write_report(load_versions(sources, resolver), output_dir, title)
