"""Results files as SEA-HELM and lm-evaluation-harness write them, built here by hand from their source.

SEA-HELM at 6844e6c5cae439a413281df31271d388fcbad12f (facts from its source at that commit):
- path: src/seahelm_evaluation.py, create_seahelm_run_folders + get_results_json_filepath:
  `<output_dir>/<basename(model_name)>/run_<n>/results/<basename(model_name)>_seahelm_results_<datetime.isoformat()>.json`,
  rewritten after each task (write_metric_to_file) and a last time after aggregate_metrics.
- entries: update_metrics puts each task's metric json and its cache status ({"inference_time_taken": [...],
  "is_cached": [...]}) under metrics[lang][competency][task]; the pragmatic tasks' metric is
  {"subcategories": {phenomenon: [correct, total]}} (seahelm_tasks/lindsea/pragmatics/pragmatic_reasoning.py).
- src/aggregate_metrics.py, aggregate_metrics (the last step) adds: each aggregation group's macro average as a float
  under the competency, the competency "total", the language "total" and the overall "total"; linguistic-diagnostics
  gets "pragmatics" (pooled counts per phenomenon, mean of phenomena, rescaled above 0.5), "lindsea"
  ({"normalized_score": mean(mp-r, pragmatics normalized), "subcategories": {}}) and its "total" = lindsea.
- tasks, competencies, metrics, groups: seahelm_tasks/task_config.yaml (set `seahelm`) and each task's config.yaml.

`sea_helm_aggregate` below follows aggregate_metrics step by step (written from reading it, not imported), so the
tests compare this repo's parser with SEA-HELM's own arithmetic.

lm-evaluation-harness 0.4.13 (read at 0.4.13.dev0, 4e7e0d47f; lm_eval/loggers/evaluation_tracker.py,
save_results_aggregated): `<output_path>/<model name with "/" as "__">/results_<isoformat with ":" as "-">.json`,
the evaluator's dict with "results" (per task and subtask), "groups" (group aggregates), "model_name", ...; each
metric keyed "<metric>,<filter>", values in 0..1.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

# (lang, competency, task, metric, group, value at run 0); the subset of the `seahelm` set for id, th, ta, tl.
ROWS = [
    ("id", "nlu", "sentiment", "normalized_accuracy", None, 70.0),
    ("id", "nlu", "qa", "normalized_f1", None, 60.0),
    ("id", "nlu", "metaphor", "normalized_accuracy", None, 40.0),
    ("id", "safety", "toxicity", "normalized_accuracy", None, 55.0),
    ("id", "nlg", "translation-en-xx", "normalized_metricx_wmt24_scores", "translations", 80.0),
    ("id", "nlg", "translation-xx-en", "normalized_metricx_wmt24_scores", "translations", 90.0),
    ("id", "nlg", "abssum", "normalized_rougel_f1", None, 20.0),
    ("id", "nlr", "causal", "normalized_accuracy", None, 75.0),
    ("id", "nlr", "nli", "normalized_accuracy", None, 45.0),
    ("id", "instruction-following", "if-eval", "overall_lang_normalized_acc", None, 85.0),
    ("id", "multi-turn", "mt-bench-judge", "average_criteria_score", None, 62.0),
    ("id", "knowledge", "global_mmlu_lite", "normalized_accuracy", None, 50.0),
    ("id", "linguistic-diagnostics", "syntax-criteria", "average_criteria_score", None, 33.0),
    ("id", "linguistic-diagnostics", "mp-r", "normalized_accuracy", None, 64.0),
    ("th", "nlu", "sentiment", "normalized_accuracy", None, 58.0),
    ("th", "nlg", "translation-en-xx", "normalized_metricx_wmt24_scores", "translations", 70.0),
    ("th", "nlg", "translation-xx-en", "normalized_metricx_wmt24_scores", "translations", 84.0),
    ("th", "nlg", "abssum", "normalized_rougel_f1", None, 18.0),
    ("th", "instruction-following", "if-eval", "overall_lang_normalized_acc", None, 77.0),
    ("th", "multi-turn", "mt-bench-judge", "average_criteria_score", None, 48.0),
    *[
        ("th", "knowledge", f"thai_exam_{p}", "normalized_accuracy", "thai_exam", v)
        for p, v in (("a_level", 40.0), ("ic", 52.0), ("onet", 46.0), ("tgat", 60.0), ("tpat1", 32.0))
    ],
    ("ta", "nlu", "sentiment", "normalized_accuracy", None, 44.0),
    ("ta", "nlg", "translation-en-xx", "normalized_metricx_wmt24_scores", "translations", 60.0),
    ("ta", "nlg", "translation-xx-en", "normalized_metricx_wmt24_scores", "translations", 72.0),
    ("ta", "linguistic-diagnostics", "mp-r", "normalized_accuracy", None, 30.0),
    ("tl", "nlu", "belebele-qa-mc", "normalized_accuracy", None, 66.0),
    ("tl", "cultural", "kalahi-mc", "normalized_accuracy", None, 38.0),
    ("tl", "cultural", "kalahi-judge", "average_criteria_score", None, 58.0),
    ("tl", "multi-turn", "mt-bench-judge", "average_criteria_score", None, 52.0),
]
# Pragmatics counts [correct, total] per phenomenon, run 0 (run r adds r correct answers to scalar implicatures).
PRAGMATICS = {
    "id": {
        "pragmatic-single": {"scalar_implicatures": [30, 40], "presuppositions": [18, 30]},
        "pragmatic-pair": {"scalar_implicatures": [16, 20], "presuppositions": [21, 30]},
    },
    "ta": {
        "pragmatic-single": {"scalar_implicatures": [12, 40], "presuppositions": [20, 30]},
        "pragmatic-pair": {"presuppositions": [10, 30]},
    },
}


def task_metrics(run: int) -> dict:
    """What the tasks have written into a run's results before aggregation (run r adds r points to each score)."""
    metrics: dict = {}
    for lang, comp, task, metric, _, value in ROWS:
        entry = {metric: value + run, "null_count": 0, "inference_time_taken": [12.5], "is_cached": [False]}
        if metric == "normalized_metricx_wmt24_scores":
            entry |= {"metricx_wmt24_scores": 3.2, "normalized_chrf": 41.0}
        metrics.setdefault(lang, {}).setdefault(comp, {})[task] = entry
    for lang, tasks in PRAGMATICS.items():
        for task, subs in tasks.items():
            subs = copy.deepcopy(subs)
            if "scalar_implicatures" in subs:
                subs["scalar_implicatures"][0] += run
            metrics[lang]["linguistic-diagnostics"][task] = {
                "subcategories": subs,
                "inference_time_taken": [3.0],
                "is_cached": [False],
            }
    return metrics


def sea_helm_aggregate(metrics: dict) -> dict:
    """src/aggregate_metrics.py's aggregate_metrics, for this subset, step by step."""
    groups = {task: group for _, _, task, _, group, _ in ROWS if group}
    metric_of = {task: metric for _, _, task, metric, _, _ in ROWS}
    lang_totals = {}
    for lang, competencies in metrics.items():
        comp_totals = {}
        for comp, tasks in competencies.items():
            if comp == "linguistic-diagnostics":
                lindsea = []
                if "mp-r" in tasks:
                    lindsea.append(tasks["mp-r"]["normalized_accuracy"])
                if "pragmatic-single" in tasks:
                    accs = []
                    for phenomenon in ("scalar_implicatures", "presuppositions"):
                        correct = total = 0
                        for t in ("pragmatic-single", "pragmatic-pair"):
                            if phenomenon in tasks[t]["subcategories"]:
                                correct += tasks[t]["subcategories"][phenomenon][0]
                                total += tasks[t]["subcategories"][phenomenon][1]
                        accs.append(correct / total)
                    acc = sum(accs) / len(accs)
                    tasks["pragmatics"] = {
                        "subcategories": {},
                        "accuracy": acc * 100,
                        "normalized_accuracy": max((acc - 0.5) / 0.5, 0) * 100,
                    }
                    lindsea.append(tasks["pragmatics"]["normalized_accuracy"])
                tasks["lindsea"] = {"normalized_score": sum(lindsea) / len(lindsea), "subcategories": {}}
                comp_totals[comp] = tasks["total"] = tasks["lindsea"]["normalized_score"]
                continue
            scores, aggregations = {}, {}
            for task, result in list(tasks.items()):
                value = result[metric_of[task]]
                if task in groups:
                    aggregations.setdefault(groups[task], []).append(value)
                    scores[groups[task]] = tasks[groups[task]] = sum(aggregations[groups[task]]) / len(
                        aggregations[groups[task]]
                    )
                else:
                    scores[task] = value
            comp_totals[comp] = tasks["total"] = sum(scores.values()) / len(scores)
        lang_totals[lang] = competencies["total"] = sum(comp_totals.values()) / len(comp_totals)
    metrics["total"] = sum(lang_totals.values()) / len(lang_totals)
    return metrics


def run_config() -> dict:
    """The run config SEA-HELM saves (configs/<model>_run_config_<datetime>.yaml), the keys parsing reads: each
    task's competency, metric, aggregation group and languages; run_args.skip_task."""
    tasks: dict = {}
    for lang, comp, task, metric, group, _ in ROWS:
        entry = tasks.setdefault(task, {"competency": comp, "metric": metric, "languages": {}})
        entry["languages"][lang] = {"filepath": "aisingapore/example"}
        if group:
            entry["aggregation_group"] = group
    for lang, pragmatic in PRAGMATICS.items():
        for task in pragmatic:
            entry = tasks.setdefault(
                task,
                {
                    "competency": "linguistic-diagnostics",
                    "metric": "normalized_accuracy",
                    "aggregation_group": "pragmatics",
                    "languages": {},
                },
            )
            entry["languages"][lang] = {"filepath": "aisingapore/Linguistic-Diagnostics-Pragmatics"}
    return {"tasks": tasks, "run_args": {"skip_task": []}}


def item_rows(task: str, lang: str, run: int) -> list[dict]:
    """Inference rows with per-item scores: 10 items at the task's score / 100; pragmatics: 1 per correct answer."""
    for row_lang, _, row_task, metric, _, value in ROWS:
        if (row_lang, row_task) == (lang, task):
            # IFEval rows name their instruction's subcategory (the leaderboard drops one for th and my)
            extra = {"metadata": {"subcategory": "keywords:existence"}} if task == "if-eval" else {}
            return [{"id": i, "individual_scores": {metric: (value + run) / 100}, **extra} for i in range(10)]
    counts = task_metrics(run)[lang]["linguistic-diagnostics"][task]["subcategories"]
    return [
        {"id": f"{phenomenon}-{i}", "individual_scores": {"normalized_accuracy": int(i < correct)}}
        for phenomenon, (correct, total) in counts.items()
        for i in range(total)
    ]


def write_run(output_dir: Path, model: str, run: int, finished: bool = True) -> Path:
    """One run at SEA-HELM's paths: its config, its inference files, its results file; unfinished: only the task
    metrics (no totals yet)."""
    metrics = task_metrics(run)
    if finished:
        metrics = sea_helm_aggregate(metrics)
    name = Path(model).name
    run_dir = output_dir / name / f"run_{run}"
    stamp = f"2026-11-2{run}T10:00:00.123456"
    config = run_config()
    (run_dir / "configs").mkdir(parents=True, exist_ok=True)
    (run_dir / "configs" / f"{name}_run_config_{stamp}.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    for task, task_config in config["tasks"].items():
        for lang in task_config["languages"]:
            folder = run_dir / "inferences" / lang / task_config.get("aggregation_group", task)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}_{task}_{lang}.jsonl").write_text(
                "".join(json.dumps(row) + "\n" for row in item_rows(task, lang, run)), encoding="utf-8"
            )
    (run_dir / "results").mkdir(parents=True, exist_ok=True)
    path = run_dir / "results" / f"{name}_seahelm_results_{stamp}.json"
    path.write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return path


LM_EVAL_RESULTS = {
    "results": {
        "leaderboard_ifeval": {
            "alias": " - leaderboard_ifeval",
            "prompt_level_strict_acc,none": 0.75,
            "prompt_level_strict_acc_stderr,none": 0.02,
            "inst_level_strict_acc,none": 0.8,
        },
        "leaderboard_mmlu_pro": {"alias": " - leaderboard_mmlu_pro", "acc,none": 0.5, "acc_stderr,none": 0.01},
        "leaderboard_bbh_boolean_expressions": {
            "alias": "  - leaderboard_bbh_boolean_expressions",
            "acc_norm,none": 0.9,
        },
    },
    "groups": {
        "leaderboard_bbh": {"alias": " - leaderboard_bbh", "acc_norm,none": 0.6},
        "leaderboard_gpqa": {"alias": " - leaderboard_gpqa", "acc_norm,none": 0.35},
        "leaderboard_math_hard": {"alias": " - leaderboard_math_hard", "exact_match,none": 0.2},
        "leaderboard_musr": {"alias": " - leaderboard_musr", "acc_norm,none": 0.45},
    },
    "n-shot": {"leaderboard_ifeval": 0},
    "config": {"model": "vllm", "batch_size": "auto"},
    "task_hashes": {},
}


def write_lm_eval(output_path: Path, model: str) -> Path:
    """lm-eval's aggregated results file for `model` under `output_path`."""
    folder = output_path / model.replace("/", "__")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results_2026-11-26T10-00-00.123456.json"
    path.write_text(json.dumps({**LM_EVAL_RESULTS, "model_name": model}, indent=2), encoding="utf-8")
    return path
