"""SEA-HELM's cross-run scores as its leaderboard computes them (helpers/results_aggregation.ipynb, V1.2,
`load_task_scores` + `aggregate_scores`), computed here from the runs' item-level inference files.

Per (language, task): 30 bootstrap samples, each item's score drawn from a random run; a task whose items carry
repeated labels (multiple choice, e.g. mp-r) is scored by class-balanced accuracy, rescaled above chance (1 /
classes) and floored at 0 per bootstrap; other tasks by their mean item score (x100 when every item score is <= 1).
Aggregation groups (both translation directions, the thai_exam parts, the two pragmatic tasks) are the mean of their
members; a competency the mean of its tasks and groups (linguistic diagnostics: mp-r, syntax-criteria, pragmatics),
a language the mean of its competencies, the SEA score the mean of the SEA languages, all per bootstrap; each level
reported as the bootstraps' mean and standard error. One random generator, seeded as the notebook seeds it, is drawn
from in the run config's task order, so the numbers are SEA-HELM's to the last digit. tests/seahelm runs the
notebook's own function on the same files and holds these equal.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

N_BOOTSTRAPS = 30  # the notebook's call: aggregate_scores(configs, data, n_bootstraps=30)
BOOTSTRAP_SEED = 94370244  # aggregate_scores' default seed
LEADERBOARD_SEA_LANGUAGES = ("id", "vi", "th", "ta", "tl", "ms", "my")  # aggregate_scores' sea_languages
# get_individual_scores leaves out this IFEval subcategory for Thai and Burmese.
IFEVAL_OMITTED = ("if-eval", ("th", "my"), "length_constraints:number_words")
ISO_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}")


@dataclass
class ItemScores:
    """One run's item scores of one (language, task) and the items' labels (for balanced accuracy)."""

    values: list[float] = field(default_factory=list)
    labels: list = field(default_factory=list)


def run_config(run_dir: Path) -> dict:
    """The run's config as SEA-HELM saved it (`configs/*_run_config_<iso datetime>.yaml`, the newest stamp)."""
    stamps = {f: m.group(0) for f in (run_dir / "configs").glob("*.yaml") if (m := ISO_STAMP.search(f.name))}
    if not stamps:
        raise FileNotFoundError(f"{run_dir}/configs: no SEA-HELM run config (*_run_config_<datetime>.yaml)")
    newest = max(stamps, key=lambda f: stamps[f])
    return yaml.safe_load(newest.read_text(encoding="utf-8"))


def inference_file(run_dir: Path, task: str, lang: str, task_config: dict) -> Path:
    """Where SEA-HELM's dataloader writes a task's inferences (the aggregation group names the folder)."""
    folder = task_config.get("aggregation_group") or task
    return run_dir / "inferences" / lang / folder / f"{run_dir.parent.name}_{task}_{lang}.jsonl"


def item_scores(path: Path, task: str, lang: str) -> ItemScores:
    """The item scores of one inference file: `individual_scores` (its first metric when a dict; each element when
    a list; NaN as 0) and `label` where the rows have one. Empty when the file is absent."""
    out = ItemScores()
    if not path.is_file():
        return out
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        return out
    first = rows[0]["individual_scores"]
    metric = next(iter(first)) if isinstance(first, dict) else None
    omitted_task, omitted_langs, omitted_sub = IFEVAL_OMITTED
    for row in rows:
        if task == omitted_task and lang in omitted_langs and row["metadata"]["subcategory"] == omitted_sub:
            continue
        value = row["individual_scores"][metric] if metric else row["individual_scores"]
        for v in value if isinstance(value, list) else [value]:
            out.values.append(0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else float(v))
        if "label" in row:
            out.labels.append(row["label"])
    return out


def load_runs(model_dir: Path, runs: Sequence[int]) -> tuple[dict, dict[tuple[str, str], list[ItemScores]]]:
    """The first run's config and, per (language, task) of it, each run's item scores."""
    config = run_config(model_dir / f"run_{runs[0]}")
    data: dict[tuple[str, str], list[ItemScores]] = {}
    for task, task_config in config["tasks"].items():
        for lang in task_config["languages"]:
            data[(lang, task)] = [
                item_scores(inference_file(model_dir / f"run_{r}", task, lang, task_config), task, lang) for r in runs
            ]
    return config, data


def balanced_accuracy(correct: np.ndarray, labels: Sequence) -> float:
    """Mean recall over the label classes of predictions that are the label when correct, else no class."""
    classes = np.asarray(labels)
    return float(np.mean([correct[classes == c].mean() for c in np.unique(classes)]))


def _is_multiple_choice(labels: list) -> bool:
    try:
        return bool(labels) and len(set(labels)) != len(labels)
    except TypeError:  # unhashable labels (lists): not a multiple-choice task
        return False


def _bootstraps(rng: np.random.Generator, runs: list[ItemScores], where: str, n: int) -> list[float]:
    """One task's n bootstrap scores: item i of bootstrap b is taken from a random run."""
    if any(not r.values for r in runs):
        raise ValueError(f"{where}: a run has no item scores (its inference file is missing or empty)")
    lengths = {len(r.values) for r in runs}
    if len(lengths) != 1:
        raise ValueError(f"{where}: the runs scored different numbers of items {sorted(lengths)}")
    (length,) = lengths
    picks = rng.integers(0, len(runs), size=(n, length))
    scores = np.array([r.values for r in runs])[picks, np.arange(length)]
    labels = runs[0].labels
    if _is_multiple_choice(labels):
        chance = 1 / len(set(labels))
        # SEA-HELM repeats the label string score-as-int times: only a score of exactly 1 reproduces the label.
        return [
            max((balanced_accuracy(row.astype(int) == 1, labels) - chance) / (1 - chance), 0) * 100 for row in scores
        ]
    means = scores.mean(axis=1)
    if max(v for r in runs for v in r.values) <= 1:
        means = means * 100
    return means.tolist()


def _stat(values: list[float]) -> dict:
    return {
        "mean": statistics.mean(values),
        "stderr": math.sqrt(statistics.variance(values) / len(values)),
        "n": len(values),
    }


def leaderboard_scores(
    config: dict,
    data: dict[tuple[str, str], list[ItemScores]],
    n_bootstraps: int = N_BOOTSTRAPS,
    seed: int = BOOTSTRAP_SEED,
    sea_languages: Sequence[str] = LEADERBOARD_SEA_LANGUAGES,
) -> dict:
    """tasks[task][lang], groups[group][lang], competencies[lang][competency], languages[lang], overall and
    sea_average: each {"mean", "stderr", "n"} over the bootstraps. The run config's skip_task are left out."""
    if any(tc.get("max_n_runs") == 1 and tc.get("use_logprobs", True) for tc in config["tasks"].values()):
        raise ValueError(
            "single-run log-probability tasks (max_n_runs: 1) are not scored here; the seahelm task set has none"
        )
    rng = np.random.default_rng(seed)
    skipped = set(config["run_args"].get("skip_task") or [])
    # lang -> competency -> {"tasks": {name: bootstraps}, "groups": {name: [member bootstraps]}}, in config order
    tree: dict[str, dict[str, dict]] = {}
    for task, task_config in config["tasks"].items():
        if task in skipped:
            continue
        group = task_config.get("aggregation_group")
        for lang in task_config["languages"]:
            boots = _bootstraps(rng, data[(lang, task)], f"{lang}/{task}", n_bootstraps)
            node = tree.setdefault(lang, {}).setdefault(task_config["competency"], {"tasks": {}, "groups": {}})
            if group:
                node["groups"].setdefault(group.replace("-logprobs", ""), []).append(boots)
            node["tasks"][task] = boots
    out: dict = {
        "tasks": {},
        "groups": {},
        "competencies": {},
        "languages": {},
        "n_bootstraps": n_bootstraps,
        "bootstrap_seed": seed,
    }
    language_lists = {}
    for lang, competencies in tree.items():
        competency_lists = []
        for competency, node in competencies.items():
            grouped = {t for t, tc in config["tasks"].items() if tc.get("aggregation_group")}
            members = [boots for task, boots in node["tasks"].items() if task not in grouped]
            for task, boots in node["tasks"].items():
                out["tasks"].setdefault(task, {})[lang] = _stat(boots)
            for group, lists in node["groups"].items():
                group_list = np.mean(lists, axis=0).tolist()
                out["groups"].setdefault(group, {})[lang] = _stat(group_list)
                members.append(group_list)
            competency_list = np.mean(members, axis=0).tolist()
            out["competencies"].setdefault(lang, {})[competency] = _stat(competency_list)
            competency_lists.append(competency_list)
        language_lists[lang] = np.mean(competency_lists, axis=0).tolist()
        out["languages"][lang] = _stat(language_lists[lang])
    out["overall"] = _stat(np.mean(list(language_lists.values()), axis=0).tolist())
    sea = [v for lang, v in language_lists.items() if lang in sea_languages]
    out["sea_average"] = _stat(np.mean(sea, axis=0).tolist()) if sea else None
    return out
