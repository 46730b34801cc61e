"""The official SEA-HELM evaluation (aisingapore/SEA-HELM) on the cluster: render its command, parse its results.

SEA-HELM runs in the eval image from /opt/SEA-HELM at the pinned commit, in its own locked uv environment
(`uv run --frozen --no-sync`, never re-resolved), from a working copy of it in the job's output (prepare_checkout:
the judged task configs rewritten there, never in the image). Each run writes, under `<output_dir>/<model key>`,
`<model basename>/run_<n>/results/<model basename>_seahelm_results_<datetime>.json` shaped
`{lang: {competency: {task: {metric: value}, group: float, "total": float}, "total": float}, "total": float}`
(the float entries by its last step, src/aggregate_metrics.py; a task that raised gets `{metric: 0, "error": ...}`),
its item scores under `run_<n>/inferences/` and its config under `run_<n>/configs/`. The cross-run scores are the
leaderboard's (evals/seahelm_leaderboard.py, from the item scores); a run with a failed task is never scored.
Its LLM judges (`mt-bench-judge`, `kalahi-judge`, `syntax-criteria`: openai/gpt-oss-120b, served with vLLM on the
node) and MetricX (translation) are named in their task configs, which prepare_checkout points at our settings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from evals.aggregate import TaskScore, aggregate, per_seed_levels
from evals.seahelm_leaderboard import inference_file, item_scores, leaderboard_scores, load_runs, run_config
from recipes.core.hub_ids import HUB_ID, is_local_path
from recipes.core.schema import SEAHELM_COMMIT, JudgeSettings, SeaHelmSettings


@dataclass(frozen=True)
class SeaHelmTask:
    competency: str
    metric: str
    group: str | None = None  # SEA-HELM's `aggregation_group`: members are averaged into one score first


# The `seahelm` task set at SEAHELM_COMMIT (seahelm_tasks/task_config.yaml) and each task's `competency`, `metric` and
# `aggregation_group` from its seahelm_tasks/**/config.yaml. No task of the set has `aggregation_type`, so every
# group is a macro average (src/aggregate_metrics.py, aggregate_metrics). `thai_exam` in task_config.yaml is the
# aggregation group of the five thai_exam_* tasks (seahelm_tasks/knowledge/thai_exam/config.yaml).
SEAHELM_TASKS: dict[str, SeaHelmTask] = {
    "sentiment": SeaHelmTask("nlu", "normalized_accuracy"),
    "qa": SeaHelmTask("nlu", "normalized_f1"),
    "metaphor": SeaHelmTask("nlu", "normalized_accuracy"),
    "belebele-qa-mc": SeaHelmTask("nlu", "normalized_accuracy"),
    "toxicity": SeaHelmTask("safety", "normalized_accuracy"),
    "translation-en-xx": SeaHelmTask("nlg", "normalized_metricx_wmt24_scores", "translations"),
    "translation-xx-en": SeaHelmTask("nlg", "normalized_metricx_wmt24_scores", "translations"),
    "abssum": SeaHelmTask("nlg", "normalized_rougel_f1"),
    "causal": SeaHelmTask("nlr", "normalized_accuracy"),
    "nli": SeaHelmTask("nlr", "normalized_accuracy"),
    "if-eval": SeaHelmTask("instruction-following", "overall_lang_normalized_acc"),
    "mt-bench-judge": SeaHelmTask("multi-turn", "average_criteria_score"),
    "global_mmlu_lite": SeaHelmTask("knowledge", "normalized_accuracy"),
    **{
        f"thai_exam_{part}": SeaHelmTask("knowledge", "normalized_accuracy", "thai_exam")
        for part in ("a_level", "ic", "onet", "tgat", "tpat1")
    },
    "kalahi-mc": SeaHelmTask("cultural", "normalized_accuracy"),
    "kalahi-judge": SeaHelmTask("cultural", "average_criteria_score"),
    # linguistic-diagnostics is scored as LINDSEA (see _lindsea): syntax-criteria is run but not in the total.
    "mp-r": SeaHelmTask("linguistic-diagnostics", "normalized_accuracy"),
    "pragmatic-single": SeaHelmTask("linguistic-diagnostics", "normalized_accuracy", "pragmatics"),
    "pragmatic-pair": SeaHelmTask("linguistic-diagnostics", "normalized_accuracy", "pragmatics"),
    "syntax-criteria": SeaHelmTask("linguistic-diagnostics", "average_criteria_score"),
}
LINDSEA = "linguistic-diagnostics"
PRAGMATICS_PHENOMENA = ("scalar_implicatures", "presuppositions")  # src/aggregate_metrics.py
PRAGMATICS_MIN_SCORE = 0.5  # src/aggregate_metrics.py: chance level of the pragmatics tasks
# Task configs whose `judge:` an LLM judge fills (judge_model_type: vllm at SEAHELM_COMMIT), and MetricX's.
JUDGED_TASK_CONFIGS = (
    "seahelm_tasks/multi_turn/mt_bench_judge/config.yaml",
    "seahelm_tasks/cultural/kalahi_judge/config.yaml",
    "seahelm_tasks/lindsea/syntax_criteria/config.yaml",
)
METRICX_TASK_CONFIG = "seahelm_tasks/nlg/translation/config.yaml"
# MetricX's serving class loads this tokenizer by hub id (src/serving/offline/metricx_serving.py, load_model).
METRICX_TOKENIZER = "google/mt5-xl"
JUDGE_MODEL_TYPES = ("vllm", "litellm")  # local vLLM on the node, or an OpenAI-compatible endpoint (via LiteLLM)
TASKS_DIR = "seahelm_tasks"
CHECKOUT = "checkout"  # <output_dir>/checkout: the job's working copy of the image's SEA-HELM (prepare_checkout)
OUT = "@OUT@"  # stands for the model-keyed output folder ("$out") in the rendered runs


def seeds(settings: SeaHelmSettings) -> dict[int, int]:
    """Run number -> its seed: SEA-HELM's own list (run_evaluation.slurm picks seeds[run] for array task `run`)."""
    unseeded = [run for run in settings.runs if not 0 <= run < len(settings.seeds)]
    if unseeded:
        raise ValueError(
            f"eval.seahelm.runs {unseeded} have no seed: eval.seahelm.seeds holds {len(settings.seeds)}"
            " (run n uses seeds[n])"
        )
    return {run: settings.seeds[run] for run in settings.runs}


def weights_to_stage(settings: SeaHelmSettings, model: str | None = None) -> list[str]:
    """Hub ids the runs load: the evaluated model (when given), the vLLM judge, MetricX and MetricX's tokenizer."""
    ids = [model] if model else []
    ids += [settings.judge.model_name] if settings.judge.model_type == "vllm" else []
    return [m for m in ids + [settings.metricx_model, METRICX_TOKENIZER] if not is_local_path(m)]


def render_commands(settings: SeaHelmSettings, model_path: str, output_dir: str) -> list[str]:
    """Shell lines that check the image's SEA-HELM is the pinned commit, lay out this job's working copy of it (its
    judged task configs pointed at our judge), key the output to the model's content and run every run.

    The image's /opt/SEA-HELM is never written: SEA-HELM reads its task configs relative to its working directory,
    so the runs start in `<output_dir>/checkout` (links to the image's files, the four judged configs rewritten),
    with `uv run --frozen --no-sync --project <repo_dir>`: the image's locked environment, never re-resolved.
    Results go to `<output_dir>/<model key>/`: SEA-HELM reuses the inferences it finds there (a requeued run
    resumes), and another model (another version, other weights) gets another key, so it starts clean."""
    # A hub id (org/name) is loaded by vLLM from the hub or HF_HOME; a path must not depend on the working directory.
    paths = {
        "output_dir": output_dir,
        **({"model_path": model_path} if settings.model_type == "vllm" and is_local_path(model_path) else {}),
    }
    for name, path in paths.items():
        if not Path(path).is_absolute():
            raise ValueError(
                f"{name}={path!r} must be an absolute path or a hub id (SEA-HELM runs from its own directory)"
            )
    run_seeds = seeds(settings)
    repo, work = settings.repo_dir, str(Path(output_dir) / CHECKOUT)
    model_args = {**settings.model_args, "tensor_parallel_size": str(settings.tensor_parallel_size)}
    judge = settings.judge
    prepare = [
        "python",
        "-m",
        "evals.seahelm",
        "prepare-checkout",
        repo,
        work,
        "--judge-model",
        judge.model_name,
        "--judge-type",
        judge.model_type,
        "--metricx-model",
        settings.metricx_model,
    ]
    if judge.base_url:
        prepare += ["--judge-base-url", judge.base_url]
    # safe.directory: the image's files belong to root, the job's user is another (git refuses them otherwise)
    head = f"$(git -c safe.directory='*' -C {shlex.quote(repo)} rev-parse HEAD)"
    lines = [
        f'test "{head}" = {settings.commit} || {{ echo "{repo} is SEA-HELM {head}, not {settings.commit}: use the '
        'eval image built for it" >&2; exit 1; }',
        shlex.join(prepare),
        # The key: the version id or the weights' hash (`python -m evals.seahelm model-key`); the stage passes it.
        f'key="${{SEAHELM_MODEL_KEY:-$({shlex.join(["python", "-m", "evals.seahelm", "model-key", model_path])})}}"',
        f'out={shlex.quote(output_dir)}/"$key"',
    ]
    if judge.model_type == "litellm" and judge.api_key_env:
        # LiteLLM's OpenAI provider reads OPENAI_API_KEY; the key stays in the environment, never in a file.
        lines.append(f'export OPENAI_API_KEY="${{{judge.api_key_env}:?{judge.api_key_env} is unset (judge key)}}"')
    if settings.hf_home:
        lines.append(f"export HF_HOME={shlex.quote(settings.hf_home)} HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1")
    for run_number, seed in run_seeds.items():
        args = [
            "uv",
            "run",
            "--frozen",
            "--no-sync",
            "--project",
            repo,
            "--directory",
            work,
            "src/seahelm_evaluation.py",
        ]
        for task in settings.tasks:
            args += ["--tasks", task]
        args += [
            "--output_dir",
            OUT,
            "--model_type",
            settings.model_type,
            "--model_name",
            model_path,
            "--model_args",
            ",".join(f"{k}={v}" for k, v in model_args.items()),
            "--run",
            str(run_number),
            "--seed",
            str(seed),
        ]
        if settings.skip_tasks:
            args += ["--skip_tasks", ",".join(settings.skip_tasks)]
        if settings.limit is not None:
            args += ["--limit", str(settings.limit)]
        if settings.is_base_model:
            args.append("--is_base_model")
        if settings.is_reasoning_model:
            args.append("--is_reasoning_model")
        lines.append(shlex.join(args).replace(OUT, '"$out"'))
    return lines


def _unlinked(path: Path) -> Path:
    """`path` as a file of its own (a link into the image is removed first, so writing never reaches the image)."""
    if path.is_symlink():
        path.unlink()
    return path


def prepare_checkout(repo_dir: str | Path, work_dir: str | Path, judge: JudgeSettings, metricx_model: str) -> Path:
    """The job's working copy of SEA-HELM: links to the image's files (`seahelm_tasks` as a tree of links), then the
    judged task configs written as files of their own, pointing at our judge and MetricX. Rebuilt on every start."""
    if judge.model_type not in JUDGE_MODEL_TYPES:
        raise ValueError(f"judge model_type={judge.model_type!r}: use one of {list(JUDGE_MODEL_TYPES)}")
    if judge.model_type == "litellm" and not judge.base_url:
        raise ValueError("a litellm judge needs base_url (the OpenAI-compatible endpoint, e.g. http://host:8000/v1)")
    repo, work = Path(repo_dir).resolve(), Path(work_dir)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for entry in repo.iterdir():
        if entry.name != TASKS_DIR:
            (work / entry.name).symlink_to(entry)
    shutil.copytree(repo / TASKS_DIR, work / TASKS_DIR, copy_function=os.symlink)
    for rel in (*JUDGED_TASK_CONFIGS, METRICX_TASK_CONFIG):
        path = work / rel
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        for task in config.values():
            if not isinstance(task, dict) or "judge" not in task:
                continue
            if rel == METRICX_TASK_CONFIG:
                task["judge"]["judge_model_name"] = metricx_model
                continue
            task["judge"]["judge_model_name"] = judge.model_name
            task["judge"]["judge_model_type"] = judge.model_type
            if judge.model_type == "litellm":
                task["judge"]["judge_init_args"] = {"api_provider": "openai", "base_url": judge.base_url}
        _unlinked(path).write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return work


WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pt", "*.pth")


def model_key(model: str) -> str:
    """What names a model's SEA-HELM output when it is no registered version (the stage keys those by version id):
    `sha256-<16 hex>` of its weight files (names and bytes, in name order), or `hub-<org>--<name>` for a hub id."""
    path = Path(model)
    if path.is_dir():
        files = sorted(f for pattern in WEIGHT_FILES for f in path.glob(pattern))
        if not files:
            raise FileNotFoundError(f"{model}: no weight files ({', '.join(WEIGHT_FILES)}) to key the evaluation by")
        digest = hashlib.sha256()
        for f in files:
            digest.update(f.name.encode() + b"\0")
            with f.open("rb") as handle:
                while chunk := handle.read(1 << 24):
                    digest.update(chunk)
        return f"sha256-{digest.hexdigest()[:16]}"
    if is_local_path(model):
        raise FileNotFoundError(f"{model}: no such model folder")
    return "hub-" + model.replace("/", "--")


def run(settings: SeaHelmSettings, model_path: str, output_dir: str, script: str | Path | None = None) -> dict:
    """Write the script (default `output_dir`/run_seahelm.sh; for the eval container on the cluster); nothing is
    executed here."""
    script = Path(script or Path(output_dir) / "run_seahelm.sh")
    commands = render_commands(settings, model_path, output_dir)
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + "\n".join(commands) + "\n", encoding="utf-8")
    script.chmod(0o755)
    return {"script": str(script), "commands": commands}


def _lindsea(tasks: dict) -> float | None:
    """SEA-HELM's linguistic-diagnostics score (src/aggregate_metrics.py, aggregate_pragmatics_metrics and
    aggregate_lindsea_metrics): the mean of mp-r's normalized_accuracy and of pragmatics, whose accuracy pools
    the correct/total counts of both pragmatic tasks per phenomenon, averages the phenomena and rescales above
    chance. syntax-criteria does not count."""
    scores = []
    if isinstance(tasks.get("mp-r"), dict):
        scores.append(float(tasks["mp-r"]["normalized_accuracy"]))
    pragmatic = [
        tasks[t]["subcategories"]
        for t in ("pragmatic-single", "pragmatic-pair")
        if isinstance(tasks.get(t), dict) and "subcategories" in tasks[t]
    ]
    if pragmatic:
        accuracies = []
        for phenomenon in PRAGMATICS_PHENOMENA:
            counts = [sub[phenomenon] for sub in pragmatic if phenomenon in sub]
            accuracies.append(sum(c[0] for c in counts) / sum(c[1] for c in counts))
        accuracy = sum(accuracies) / len(accuracies)
        scores.append(100 * max((accuracy - PRAGMATICS_MIN_SCORE) / (1 - PRAGMATICS_MIN_SCORE), 0))
    return sum(scores) / len(scores) if scores else None


def run_scores(metrics: dict, run_number: int) -> tuple[list[TaskScore], list[str]]:
    """One run's file as the scores SEA-HELM averages per competency: a task's metric, a group's macro average
    (named by the group), LINDSEA for linguistic-diagnostics. Also the lang/competency/task entries not scored."""
    scores, skipped = [], []
    for lang, competencies in metrics.items():
        if not isinstance(competencies, dict):
            continue  # the overall "total"
        for competency, tasks in competencies.items():
            if not isinstance(tasks, dict):
                continue  # the language "total"
            if competency == LINDSEA:
                value = _lindsea(tasks)
                if value is not None:
                    scores.append(TaskScore("lindsea", competency, lang, value, run_number))
                continue
            groups: dict[str, list[float]] = {}
            for task, result in tasks.items():
                known = SEAHELM_TASKS.get(task)
                if not isinstance(result, dict):
                    continue  # a group's score or the competency "total", written by SEA-HELM
                if known is None or known.metric not in result:
                    skipped.append(f"{lang}/{competency}/{task}")
                elif known.group:
                    groups.setdefault(known.group, []).append(float(result[known.metric]))
                else:
                    scores.append(TaskScore(task, competency, lang, float(result[known.metric]), run_number))
            scores += [TaskScore(group, competency, lang, sum(v) / len(v), run_number) for group, v in groups.items()]
    return scores, skipped


def _disagreements(metrics: dict, levels: dict, where: str) -> list[str]:
    """Where SEA-HELM's own totals differ from ours for the same run (they should not)."""
    ours = {
        "total": levels["sea_average"],
        **{f"{lang}/total": v for lang, v in levels["languages"].items()},
        **{f"{lang}/{comp}/total": v for (lang, comp), v in levels["competencies"].items()},
    }
    theirs = {"total": metrics.get("total")}
    for lang, comps in metrics.items():
        if isinstance(comps, dict):
            theirs[f"{lang}/total"] = comps.get("total")
            theirs.update({f"{lang}/{c}/total": t.get("total") for c, t in comps.items() if isinstance(t, dict)})
    return [
        f"{where}: {key} SEA-HELM {value} vs ours {ours.get(key)}"
        for key, value in theirs.items()
        if value is not None and (ours.get(key) is None or not math.isclose(value, ours[key], abs_tol=1e-6))
    ]


def run_problems(run_dir: Path, metrics: dict, config: dict) -> list[str]:
    """Why one run cannot be scored: a task of its config (less skip_task) with SEA-HELM's `"error"` entry, without
    its metric, absent from the results, or without item scores; no overall "total" (SEA-HELM writes it last)."""
    problems = []
    skipped = set(config["run_args"].get("skip_task") or [])
    for task, task_config in config["tasks"].items():
        if task in skipped:
            continue
        for lang in task_config["languages"]:
            where = f"{lang}/{task}"
            result = metrics.get(lang, {}).get(task_config["competency"], {}).get(task)
            if not isinstance(result, dict):
                problems.append(f"{where}: no result (the run stopped before it)")
            elif "error" in result:
                problems.append(f"{where}: SEA-HELM error {result['error']!r} (its log: {run_dir / 'logs'})")
            elif task_config["metric"] not in result and "subcategories" not in result:
                problems.append(f"{where}: no {task_config['metric']} in the results")
            elif not item_scores(inference_file(run_dir, task, lang, task_config), task, lang).values:
                problems.append(f"{where}: no item scores in {inference_file(run_dir, task, lang, task_config)}")
    if not isinstance(metrics.get("total"), (int, float)):
        problems.append("no overall total (SEA-HELM writes it last: the run did not finish)")
    return problems


def parse_results(output_dir: str | Path, run_seeds: dict[int, int] | None = None) -> dict:
    """One model's SEA-HELM runs under `output_dir` (`<model>/run_<n>/`, the newest results file of each) as our
    results dict. "aggregate": the leaderboard's scores over the complete runs (evals/seahelm_leaderboard.py);
    "run_totals": SEA-HELM's per-run totals and their summary over runs. A run in `run_seeds` (run -> seed) with a
    failed, missing or unscored task, or no results at all, is listed under "incomplete_runs" with the reasons and
    never scored; "aggregate" is None when no run is complete."""
    files = sorted(Path(output_dir).glob("*/run_*/results/*_seahelm_results_*.json"))
    if not files:
        raise FileNotFoundError(
            f"no SEA-HELM results (<model>/run_*/results/*_seahelm_results_*.json) under {output_dir}"
        )
    newest: dict[int, Path] = {}
    for f in files:  # sorted, so later timestamps overwrite earlier ones
        newest[int(f.parent.parent.name.removeprefix("run_"))] = f
    incomplete: dict[int, list[str]] = {
        run: ["no results file (the run did not start)"] for run in sorted(set(run_seeds or {}) - set(newest))
    }
    scores, skipped, disagreements, totals, complete = [], set(), [], {}, []
    for run_number, f in sorted(newest.items()):
        run_dir = f.parent.parent
        metrics = json.loads(f.read_text(encoding="utf-8"))
        try:
            problems = run_problems(run_dir, metrics, run_config(run_dir))
        except FileNotFoundError as err:  # no saved config: the run's task list is unknown
            problems = [str(err)]
        if problems:
            incomplete[run_number] = problems
            continue
        run_rows, run_skipped = run_scores(metrics, run_number)
        scores += run_rows
        skipped.update(run_skipped)
        totals[run_number] = float(metrics["total"])
        disagreements += _disagreements(metrics, per_seed_levels(run_rows)[run_number], str(f))
        complete.append(run_number)
    for run_number, problems in sorted(incomplete.items()):
        print(f"warning: SEA-HELM run {run_number} is incomplete, not scored: {'; '.join(problems)}", file=sys.stderr)
    for line in disagreements:
        print(f"warning: {line}", file=sys.stderr)
    leaderboard = None
    if complete:
        model_dir = newest[complete[0]].parent.parent.parent
        leaderboard = leaderboard_scores(*load_runs(model_dir, complete))
    return {
        "source": "seahelm",
        "commit": SEAHELM_COMMIT,
        "files": [str(f) for f in newest.values()],
        "seeds": {run: (run_seeds or {}).get(run) for run in complete},
        "runs": complete,
        "aggregate": leaderboard,
        "run_totals": {"seahelm_totals": totals, "aggregate": aggregate(scores) if scores else None},
        "incomplete_runs": {str(run): problems for run, problems in sorted(incomplete.items())},
        "skipped": sorted(skipped),
        "disagreements": disagreements,
    }


# Checkpoint copies vLLM and transformers do not load (gpt-oss's original/ and metal/ folders, TF and Flax weights).
UNUSED_WEIGHTS = ["original/*", "metal/*", "*.msgpack", "*.h5", "tf_model*", "flax_model*"]
# What stage-weights staged for the datasets, in the cache it staged them into: preflight reads it.
DATASETS_MANIFEST = "seahelm-datasets.json"


def task_datasets(repo_dir: str | Path, task_sets: list[str], skip_tasks: Sequence[str] = ()) -> list[str]:
    """Hub datasets the task sets load: every `filepath` / `example_filepath` of their tasks' languages in
    `seahelm_tasks/**/config.yaml` (merged and resolved as SEA-HELM merges them) that is a hub id, not a file of
    the checkout. An aggregation group named in seahelm_tasks/task_config.yaml stands for its member tasks."""
    from omegaconf import OmegaConf

    repo = Path(repo_dir)
    files = sorted((repo / TASKS_DIR).glob("**/config.yaml"))
    if not files:
        raise FileNotFoundError(f"{repo}: no {TASKS_DIR}/**/config.yaml; pass a SEA-HELM checkout at {SEAHELM_COMMIT}")
    merged = OmegaConf.merge(*(OmegaConf.load(f) for f in files))
    configs = cast(dict[str, Any], OmegaConf.to_container(merged, resolve=True))  # task name -> its config
    task_sets_file = yaml.safe_load((repo / TASKS_DIR / "task_config.yaml").read_text(encoding="utf-8"))
    members: dict[str, list[str]] = {}
    for task, config in configs.items():
        if config.get("aggregation_group"):
            members.setdefault(config["aggregation_group"], []).append(task)
    datasets: set[str] = set()
    for task_set in task_sets:
        if task_set not in task_sets_file:
            raise ValueError(f"task set {task_set!r} is not in {TASKS_DIR}/task_config.yaml")
        for lang, tasks in task_sets_file[task_set].items():
            for task in (t for name in tasks for t in members.get(name, [name]) if t not in skip_tasks):
                language = configs[task]["languages"][lang]
                datasets.update(
                    path
                    for key in ("filepath", "example_filepath")
                    if (path := language.get(key)) and HUB_ID.match(path) and not (repo / path).exists()
                )
    return sorted(datasets)


def stage_weights(
    settings: SeaHelmSettings, hf_home: str | Path, model: str | None = None, seahelm_dir: str | Path | None = None
) -> list[str]:
    """Download into the Hugging Face cache `hf_home` what the runs load (on a node with network; the jobs then run
    offline with SeaHelmSettings.hf_home pointing there): the weights of weights_to_stage (of MetricX's tokenizer,
    only its files) and, with a SEA-HELM checkout, every dataset of task_datasets, each of its configs loaded once
    with `datasets` so that offline `load_dataset` finds it prepared. Writes the datasets manifest preflight reads."""
    import datasets as hf_datasets
    from huggingface_hub import snapshot_download

    ids = weights_to_stage(settings, model)
    for repo_id in ids:
        tokenizer_only: dict[str, Any] = (
            {"allow_patterns": ["*.json", "*.model"]} if repo_id == METRICX_TOKENIZER else {}
        )
        snapshot_download(repo_id, cache_dir=Path(hf_home) / "hub", ignore_patterns=UNUSED_WEIGHTS, **tokenizer_only)
    names = task_datasets(seahelm_dir or settings.repo_dir, settings.tasks, settings.skip_tasks)
    cache = str(Path(hf_home) / "datasets")
    for name in names:
        for config in hf_datasets.get_dataset_config_names(name):
            hf_datasets.load_dataset(name, config, cache_dir=cache)
    (Path(hf_home) / DATASETS_MANIFEST).write_text(
        json.dumps(
            {"commit": settings.commit, "tasks": settings.tasks, "skip_tasks": settings.skip_tasks, "datasets": names},
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return ids + names


def missing_weights(settings: SeaHelmSettings, model: str | None = None) -> list[str]:
    """Hub ids in weights_to_stage that the cache at settings.hf_home does not hold (their config.json)."""
    from huggingface_hub import try_to_load_from_cache

    cache = Path(str(settings.hf_home)) / "hub"
    return [
        m
        for m in weights_to_stage(settings, model)
        if not isinstance(try_to_load_from_cache(m, "config.json", cache_dir=cache), str)
    ]


def missing_datasets(settings: SeaHelmSettings) -> list[str]:
    """What the datasets cache at settings.hf_home lacks for these runs: the manifest itself (or one written for
    another commit or task set), or a listed dataset with no prepared config (where `datasets` looks offline:
    `<hf_home>/datasets/<org>___<name in snake case>/<config>/<version>/<hash>/`)."""
    manifest_path = Path(str(settings.hf_home)) / DATASETS_MANIFEST
    if not manifest_path.is_file():
        return [f"{DATASETS_MANIFEST} (no datasets staged)"]
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    wanted = {"commit": settings.commit, "tasks": settings.tasks, "skip_tasks": settings.skip_tasks}
    stale = [
        f"{key}={manifest.get(key)!r}, not {value!r}" for key, value in wanted.items() if manifest.get(key) != value
    ]
    if stale:
        return [f"{DATASETS_MANIFEST} (staged for {', '.join(stale)})"]
    cache = manifest_path.parent / "datasets"
    return [
        name
        for name in manifest["datasets"]
        if not any(p.is_dir() for p in (cache / _cached_dataset_dir(name)).glob("*/*/*"))
    ]


def _cached_dataset_dir(name: str) -> str:
    """`datasets`' cache folder of a hub dataset (CachedDatasetModuleFactory's: `org___<name in snake case>`)."""
    from datasets.naming import camelcase_to_snakecase

    org, _, dataset = name.rpartition("/")
    return "___".join([*([org] if org else []), camelcase_to_snakecase(dataset)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evals.seahelm", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="print the shell lines that run SEA-HELM")
    render.add_argument("model_path")
    render.add_argument("output_dir")
    render.add_argument("--tensor-parallel-size", type=int, default=1)
    render.add_argument("--runs", type=int, default=8, help="number of evaluation runs (SEA-HELM uses 8)")
    render.add_argument("--base-model", action="store_true")
    parse = sub.add_parser("parse", help="collect one model's SEA-HELM result files into one results JSON")
    parse.add_argument("output_dir", help="<eval output>/<model key>")
    prepare = sub.add_parser(
        "prepare-checkout",
        help="this job's working copy of the image's SEA-HELM, its judged task configs pointed at our judge",
    )
    prepare.add_argument("repo_dir")
    prepare.add_argument("work_dir")
    prepare.add_argument("--judge-model", default=JudgeSettings.model_name)
    prepare.add_argument("--judge-type", choices=JUDGE_MODEL_TYPES, default=JudgeSettings.model_type)
    prepare.add_argument("--judge-base-url")
    prepare.add_argument("--metricx-model", default=SeaHelmSettings.metricx_model)
    key = sub.add_parser("model-key", help="print the key that names a model's SEA-HELM output")
    key.add_argument("model")
    stage = sub.add_parser("stage-weights", help="download the weights and the task set's datasets for offline nodes")
    stage.add_argument("hf_home")
    stage.add_argument("--judge-model", default=JudgeSettings.model_name)
    stage.add_argument("--model", help="the evaluated model too, when it is a hub id")
    stage.add_argument(
        "--seahelm-dir",
        default=SeaHelmSettings.repo_dir,
        help=f"a SEA-HELM checkout at {SEAHELM_COMMIT[:7]} (its task configs list the datasets)",
    )
    args = parser.parse_args(argv)
    if args.command == "render":
        settings = SeaHelmSettings(
            tensor_parallel_size=args.tensor_parallel_size, runs=list(range(args.runs)), is_base_model=args.base_model
        )
        print("\n".join(render_commands(settings, args.model_path, args.output_dir)))
    elif args.command == "parse":
        print(json.dumps(parse_results(args.output_dir), indent=2))
    elif args.command == "prepare-checkout":
        judge = JudgeSettings(model_name=args.judge_model, model_type=args.judge_type, base_url=args.judge_base_url)
        print(f"prepared {prepare_checkout(args.repo_dir, args.work_dir, judge, args.metricx_model)}")
    elif args.command == "model-key":
        print(model_key(args.model))
    else:
        staged = stage_weights(
            SeaHelmSettings(judge=JudgeSettings(model_name=args.judge_model)),
            args.hf_home,
            args.model,
            args.seahelm_dir,
        )
        print(f"staged {', '.join(staged)} in {args.hf_home}; set eval.seahelm.hf_home={args.hf_home}")


if __name__ == "__main__":
    main()
