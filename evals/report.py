"""Compare evaluation results of several model versions: Markdown + HTML tables and PNG plots (per-language and
per-competency bars with confidence intervals, perplexity over training steps)."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

RESULT_NAMES = ("results.json", "perplexity.json")
Table = tuple[str, list[str], list[list[str]]]  # (name, header, rows)
MoreTables = Callable[[list[str]], list[Table]]  # version labels -> tables


# The suites of the eval stage's results.json, each under its own key ({"model", "seahelm": {... "aggregate",
# "run_totals", "incomplete_runs"}, "lm_eval": {... "aggregate", "tasks"}, "local_eval": <aggregate>, "perplexity",
# "perplexity_documents"}, recipes/stages/eval.py); a file with a top-level "aggregate" (local_eval's own
# results.json, older files) is one suite named by its "source". A version record's metrics have the same shape.
NESTED_SUITES = ("seahelm", "lm_eval")
# lm-eval's numbers are raw: every table row and chart bar of the suite carries this name.
LM_EVAL_SUITE = "lm_eval (raw)"
LM_EVAL_NOTE = (
    "lm-eval (raw): accuracies and exact-match rates x100 of each leaderboard group's headline metric "
    "(IFEval: the mean of prompt- and instruction-level strict accuracy, as the Open LLM Leaderboard), "
    "not the leaderboard's chance-normalised scores"
)
SEAHELM_NOTE = (
    "seahelm: SEA-HELM's leaderboard scores (helpers/results_aggregation.ipynb: item-level bootstraps "
    "over the complete runs, mean ± standard error); SEA-HELM's own total of each run beside them"
)


class ReportInputError(ValueError):
    """A results source the report cannot read; the message names it and the repair."""


@dataclass
class VersionResults:
    """Everything known about one model version, merged from one or more results files; scores keyed by suite."""

    label: str
    languages: dict[str, dict] = field(default_factory=dict)  # "suite/lang" -> stat
    competencies: dict[str, dict] = field(default_factory=dict)  # "suite/lang/competency" -> stat
    sea_average: dict[str, dict] = field(default_factory=dict)  # suite -> stat
    lm_eval_tasks: dict[str, float] = field(default_factory=dict)
    seahelm_run_totals: dict[str, float] = field(default_factory=dict)  # run -> SEA-HELM's total
    seahelm_incomplete: dict[str, list[str]] = field(default_factory=dict)  # run -> why it is not scored
    perplexity_series: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    perplexity: dict[str, float] = field(default_factory=dict)
    perplexity_documents: dict[str, dict] = field(default_factory=dict)  # lang -> {"used", "available"}

    def add_suite(self, suite: str, agg: dict | None) -> None:
        if not agg:  # SEA-HELM with no complete run: only its incomplete runs are shown
            return
        suite = LM_EVAL_SUITE if suite == "lm_eval" else suite
        self.languages.update({f"{suite}/{lang}": stat for lang, stat in agg.get("languages", {}).items()})
        for lang, comps in agg.get("competencies", {}).items():
            self.competencies.update({f"{suite}/{lang}/{c}": stat for c, stat in comps.items()})
        if agg.get("sea_average"):
            self.sea_average[suite] = agg["sea_average"]

    def add_results(self, data: dict) -> None:
        for suite, agg in _suites(data).items():
            self.add_suite(suite, agg)
        if isinstance(data.get("lm_eval"), dict):
            self.lm_eval_tasks.update(data["lm_eval"].get("tasks", {}))
        if isinstance(data.get("seahelm"), dict):
            seahelm = data["seahelm"]
            self.seahelm_run_totals.update(
                {str(r): t for r, t in (seahelm.get("run_totals") or {}).get("seahelm_totals", {}).items()}
            )
            self.seahelm_incomplete.update(seahelm.get("incomplete_runs") or {})
        if data.get("perplexity"):
            self.perplexity.update(data["perplexity"])
            if data.get("step") is not None:
                self.perplexity_series.append((int(data["step"]), data["perplexity"]))
        self.perplexity_documents.update(data.get("perplexity_documents") or {})
        self.perplexity_series += [(int(p["step"]), p["perplexity"]) for p in data.get("perplexity_series", [])]


def _suites(data: dict) -> dict[str, dict]:
    """Suite name -> its aggregate, for every suite in one results file."""
    suites = {name: data[name].get("aggregate") for name in NESTED_SUITES if isinstance(data.get(name), dict)}
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
        raise ReportInputError(
            f"{path}: no {' or '.join(RESULT_NAMES)} inside; pass a results JSON or its folder "
            "(the eval stage's artifact)"
        )
    return files


def _read_results(f: Path) -> dict:
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ReportInputError(
            f"{f}: not valid JSON ({err.msg} at line {err.lineno}): the file is truncated or "
            "was written partly; rerun the eval stage that wrote it (it rewrites the file "
            "from the suites' outputs)"
        ) from None
    if not isinstance(data, dict):
        raise ReportInputError(
            f"{f}: holds a JSON {type(data).__name__}, not a results object; pass the eval "
            "stage's results.json or perplexity.json"
        )
    return data


def load_versions(sources: list[str], resolver: Callable[[str], dict] | None = None) -> list[VersionResults]:
    """Results per version, in first-seen order. A source that is no path is a version id: `resolver` gives its
    results (its record's metrics, labelled by its id). A file's label is its "version", else its folder's name."""
    versions: dict[str, VersionResults] = {}
    for source in sources:
        path = Path(source)
        if not path.exists():
            if resolver is None:
                raise ReportInputError(
                    f"{source}: no such file or folder, and no version registry to look it up "
                    "in; pass a results JSON or folder, or a version id with --registry"
                )
            data = resolver(source)
            versions.setdefault(str(data["version"]), VersionResults(str(data["version"]))).add_results(data)
            continue
        for f in _result_files(path):
            data = _read_results(f)
            label = str(data.get("version") or (f.parent.name if f.name in RESULT_NAMES else f.stem))
            versions.setdefault(label, VersionResults(label)).add_results(data)
    for v in versions.values():
        v.perplexity_series.sort(key=lambda point: point[0])
    if not versions:
        raise ReportInputError("no results given; pass at least one results JSON or folder")
    return list(versions.values())


def _error_bar(stat: dict | None) -> list[float]:
    """Below/above the mean: SEA-HELM's standard error, else the bootstrap interval."""
    if not stat:
        return [0, 0]
    if "stderr" in stat:
        return [stat["stderr"], stat["stderr"]]
    return [stat["mean"] - stat["ci_low"], stat["ci_high"] - stat["mean"]]


def _grouped_bars(versions: list[VersionResults], attr: str, title: str, path: Path) -> Path | None:
    keys = sorted({k for v in versions for k in getattr(v, attr)})
    if not keys:
        return None
    width = 0.8 / len(versions)
    x = np.arange(len(keys))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(keys) * max(1, len(versions) / 2) + 2), 4.5))
    for i, v in enumerate(versions):
        stats = [getattr(v, attr).get(k) for k in keys]
        means = [s["mean"] if s else np.nan for s in stats]
        err = np.array([_error_bar(s) for s in stats]).T
        ax.bar(x + (i - (len(versions) - 1) / 2) * width, means, width, yerr=err, capsize=3, label=v.label)
    ax.set_xticks(x, keys, rotation=30 if len(keys) > 6 else 0, ha="right" if len(keys) > 6 else "center")
    raw = any(k.startswith(LM_EVAL_SUITE) for k in keys)
    ax.set_ylabel("score (0-100)" + (f"; {LM_EVAL_SUITE}: raw, not normalised" if raw else ", normalised"))
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(title="version", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _perplexity_curves(versions: list[VersionResults], path: Path) -> Path | None:
    series = [(v, pts) for v in versions if len(pts := v.perplexity_series) > 1]
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    styles = ["-", "--", ":", "-."]
    for i, (v, points) in enumerate(series):
        for j, lang in enumerate(sorted({lang for _, ppl in points for lang in ppl})):
            steps = [s for s, ppl in points if lang in ppl]
            ax.plot(
                steps,
                [ppl[lang] for _, ppl in points if lang in ppl],
                styles[i % len(styles)],
                marker="o",
                color=f"C{j}",
                label=f"{v.label} {lang}",
            )
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


def _fmt(stat: dict | None) -> str:
    if not stat:
        return "–"
    if "stderr" in stat:
        return f"{stat['mean']:.1f} ± {stat['stderr']:.1f}"
    if stat["ci_high"] > stat["ci_low"]:
        return f"{stat['mean']:.1f} [{stat['ci_low']:.1f}, {stat['ci_high']:.1f}]"
    return f"{stat['mean']:.1f}"


def _header(suite: str) -> str:
    return f"{suite} (± s.e.)" if suite == "seahelm" else f"{suite} [95% CI]"


def _tables(versions: list[VersionResults]) -> list[Table]:
    labels = [v.label for v in versions]
    tables = []
    suites = sorted({s for v in versions for s in v.sea_average})
    if suites:
        tables.append(
            (
                "SEA average",
                ["version"] + [_header(s) for s in suites],
                [[v.label] + [_fmt(v.sea_average.get(s)) for s in suites] for v in versions],
            )
        )
    runs = sorted(
        {r for v in versions for r in v.seahelm_run_totals} | {r for v in versions for r in v.seahelm_incomplete},
        key=int,
    )
    if runs:

        def cell(v: VersionResults, run: str) -> str:
            if run in v.seahelm_incomplete:
                return "incomplete: " + "; ".join(v.seahelm_incomplete[run])
            return f"{v.seahelm_run_totals[run]:.1f}" if run in v.seahelm_run_totals else "–"

        tables.append(("SEA-HELM runs", ["run"] + labels, [[run] + [cell(v, run) for v in versions] for run in runs]))
    for title, attr, column in (
        ("Per language", "languages", "suite/language"),
        ("Per language / competency", "competencies", "suite/language/competency"),
    ):
        keys = sorted({k for v in versions for k in getattr(v, attr)})
        if keys:
            tables.append(
                (title, [column] + labels, [[k] + [_fmt(getattr(v, attr).get(k)) for v in versions] for k in keys])
            )
    tasks = sorted({t for v in versions for t in v.lm_eval_tasks})
    if tasks:
        tables.append(
            (
                f"{LM_EVAL_SUITE} tasks",
                ["task"] + labels,
                [[t] + [f"{v.lm_eval_tasks[t]:.1f}" if t in v.lm_eval_tasks else "–" for v in versions] for t in tasks],
            )
        )
    langs = sorted({lang for v in versions for lang in v.perplexity})
    if langs:

        def ppl(v: VersionResults, lang: str) -> str:
            if lang not in v.perplexity:
                return "–"
            docs = v.perplexity_documents.get(lang)
            return f"{v.perplexity[lang]:.2f}" + (f" ({docs['used']}/{docs['available']} docs)" if docs else "")

        tables.append(
            (
                "Perplexity (latest)",
                ["language"] + labels,
                [[lang] + [ppl(v, lang) for v in versions] for lang in langs],
            )
        )
    return tables


def _notes(tables: list[Table]) -> dict[str, list[str]]:
    """Table name -> the notes printed above it: what the SEA-HELM numbers are, that lm-eval's are raw."""
    cells = {name: " ".join(header + [c for row in rows for c in row]) for name, header, rows in tables}
    notes: dict[str, list[str]] = {}
    for name, text in cells.items():
        if "seahelm" in text or name == "SEA-HELM runs":
            notes.setdefault(name, []).append(SEAHELM_NOTE)
        if LM_EVAL_SUITE in text or name == f"{LM_EVAL_SUITE} tasks":
            notes.setdefault(name, []).append(LM_EVAL_NOTE)
    return notes


def write_report(
    versions: list[VersionResults],
    output_dir: str | Path,
    title: str = "Evaluation report",
    more_tables: MoreTables | None = None,
) -> dict:
    """Write report.md, report.html and the PNG plots into `output_dir`; returns their paths. `more_tables` adds
    tables after the scores' for the versions' labels (the command adds the native-speaker review's)."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = [
        p
        for p in (
            _grouped_bars(
                versions,
                "languages",
                "Score per language (seahelm: ± s.e.; others: 95% CI over seeds)",
                out / "languages.png",
            ),
            _grouped_bars(versions, "competencies", "Score per language / competency", out / "competencies.png"),
            _perplexity_curves(versions, out / "perplexity.png"),
        )
        if p is not None
    ]
    tables = _tables(versions) + (more_tables([v.label for v in versions]) if more_tables else [])
    notes = _notes(tables)
    md = [f"# {title}", "", "Versions: " + ", ".join(v.label for v in versions), ""]
    body = [f"<h1>{html.escape(title)}</h1>"]
    for name, header, rows in tables:
        md += [f"## {name}", ""]
        body.append(f"<h2>{html.escape(name)}</h2>")
        for note in notes.get(name, []):
            md += [f"{note}.", ""]
            body.append(f"<p>{html.escape(note)}.</p>")
        md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        md += ["| " + " | ".join(row) + " |" for row in rows] + [""]
        body.append(
            "<table><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in header)
            + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
            + "</table>"
        )
    for plot in plots:
        md += [f"![{plot.stem}]({plot.name})", ""]
        body.append(f'<p><img src="{plot.name}" alt="{plot.stem}"></p>')
    style = "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    (out / "report.html").write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>",
        encoding="utf-8",
    )
    return {"markdown": str(out / "report.md"), "html": str(out / "report.html"), "plots": [str(p) for p in plots]}


def run(
    sources: list[str],
    output_dir: str | Path,
    resolver: Callable[[str], dict] | None = None,
    title: str = "Evaluation report",
    more_tables: MoreTables | None = None,
) -> dict:
    """Load the results of every source (path or version id) and write the report; returns the written paths."""
    return write_report(load_versions(sources, resolver), output_dir, title, more_tables)
