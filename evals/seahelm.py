"""The official SEA-HELM evaluation (aisingapore/SEA-HELM) on the cluster: render its command, parse its results.

SEA-HELM runs from a checkout of its repository at a pinned commit inside the eval container
(`uv run src/seahelm_evaluation.py --tasks seahelm --model_type vllm ...`, see its docs/cli.md). Each run writes
`<output_dir>/<model basename>/run_<n>/results/<model basename>_seahelm_results_<datetime>.json` shaped
`{lang: {competency: {task: {metric: value}, group: float, "total": float}, "total": float}, "total": float}`:
the float entries are written by its last step, src/aggregate_metrics.py. Its LLM judges (`mt-bench-judge`,
`kalahi-judge`, `syntax-criteria`: openai/gpt-oss-120b, served with vLLM on the node) and MetricX (translation) are
named in their task configs; `configure-judges` rewrites those configs to our settings before the runs.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

from evals.aggregate import TaskScore, aggregate, per_seed_levels
from recipes.core.schema import SEAHELM_COMMIT, JudgeSettings, SeaHelmSettings

SEAHELM_REPO = "https://github.com/aisingapore/SEA-HELM.git"
@dataclass(frozen=True)
class SeaHelmTask:
    competency: str
    metric: str
    group: Optional[str] = None  # SEA-HELM's `aggregation_group`: members are averaged into one score first


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
    **{f"thai_exam_{part}": SeaHelmTask("knowledge", "normalized_accuracy", "thai_exam")
       for part in ("a_level", "ic", "onet", "tgat", "tpat1")},
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
JUDGED_TASK_CONFIGS = ("seahelm_tasks/multi_turn/mt_bench_judge/config.yaml",
                       "seahelm_tasks/cultural/kalahi_judge/config.yaml",
                       "seahelm_tasks/lindsea/syntax_criteria/config.yaml")
METRICX_TASK_CONFIG = "seahelm_tasks/nlg/translation/config.yaml"
# MetricX's serving class loads this tokenizer by hub id (src/serving/offline/metricx_serving.py, load_model).
METRICX_TOKENIZER = "google/mt5-xl"
JUDGE_MODEL_TYPES = ("vllm", "litellm")  # local vLLM on the node, or an OpenAI-compatible endpoint (via LiteLLM)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def seeds(settings: SeaHelmSettings) -> dict[int, int]:
    """Run number -> its seed."""
    return {run: settings.seed + run for run in settings.runs}


def is_local_path(model: str) -> bool:
    """A model reference that names a file system path rather than a hub id (`org/name`)."""
    return model.startswith(("/", ".", "~")) or not HUB_ID.match(model)


def weights_to_stage(settings: SeaHelmSettings, model: Optional[str] = None) -> list[str]:
    """Hub ids the runs load: the evaluated model (when given), the vLLM judge, MetricX and MetricX's tokenizer."""
    ids = [model] if model else []
    ids += [settings.judge.model_name] if settings.judge.model_type == "vllm" else []
    return [m for m in ids + [settings.metricx_model, METRICX_TOKENIZER] if not is_local_path(m)]


def render_commands(settings: SeaHelmSettings, model_path: str, output_dir: str) -> list[str]:
    """Shell lines that check out the pinned SEA-HELM, point its judge/MetricX configs at ours, and run every run."""
    # `uv run --directory` runs inside the SEA-HELM checkout, so relative paths would land there. A hub id
    # (org/name) is loaded by vLLM from the hub or HF_HOME.
    paths = {"output_dir": output_dir,
             **({"model_path": model_path} if settings.model_type == "vllm" and is_local_path(model_path) else {})}
    for name, path in paths.items():
        if not Path(path).is_absolute():
            raise ValueError(f"{name}={path!r} must be an absolute path or a hub id (SEA-HELM runs from its own "
                             "checkout)")
    repo = shlex.quote(settings.repo_dir)
    model_args = {**settings.model_args, "tensor_parallel_size": str(settings.tensor_parallel_size)}
    judge = settings.judge
    configure = ["python", "-m", "evals.seahelm", "configure-judges", settings.repo_dir, "--judge-model",
                 judge.model_name, "--judge-type", judge.model_type, "--metricx-model", settings.metricx_model]
    if judge.base_url:
        configure += ["--judge-base-url", judge.base_url]
    lines = [
        f"test -d {repo}/.git || git clone {SEAHELM_REPO} {repo}",
        f"git -C {repo} fetch --quiet origin {settings.commit} || true",
        f"git -C {repo} checkout --quiet {settings.commit}",
        shlex.join(configure),
    ]
    if judge.model_type == "litellm" and judge.api_key_env:
        # LiteLLM's OpenAI provider reads OPENAI_API_KEY; the key stays in the environment, never in a file.
        lines.append(f'export OPENAI_API_KEY="${{{judge.api_key_env}:?{judge.api_key_env} is unset (judge key)}}"')
    if settings.hf_home:
        lines.append(f"export HF_HOME={shlex.quote(settings.hf_home)} HF_HUB_OFFLINE=1")
    for run_number, seed in seeds(settings).items():
        args = ["uv", "run", "--directory", settings.repo_dir, "src/seahelm_evaluation.py"]
        for task in settings.tasks:
            args += ["--tasks", task]
        args += ["--output_dir", output_dir, "--model_type", settings.model_type, "--model_name", model_path,
                 "--model_args", ",".join(f"{k}={v}" for k, v in model_args.items()),
                 "--run", str(run_number), "--seed", str(seed)]
        if settings.skip_tasks:
            args += ["--skip_tasks", ",".join(settings.skip_tasks)]
        if settings.limit is not None:
            args += ["--limit", str(settings.limit)]
        if settings.is_base_model:
            args.append("--is_base_model")
        if settings.is_reasoning_model:
            args.append("--is_reasoning_model")
        lines.append(shlex.join(args))
    return lines


def configure_judges(repo_dir: str | Path, judge: JudgeSettings, metricx_model: str) -> list[Path]:
    """Rewrite the judge of each judged task config (and MetricX in the translation config) in the checkout.
    A `litellm` judge gets SEA-HELM's LiteLLM init args (api_provider, base_url; the key from the environment)."""
    if judge.model_type not in JUDGE_MODEL_TYPES:
        raise ValueError(f"judge model_type={judge.model_type!r}: use one of {list(JUDGE_MODEL_TYPES)}")
    if judge.model_type == "litellm" and not judge.base_url:
        raise ValueError("a litellm judge needs base_url (the OpenAI-compatible endpoint, e.g. http://host:8000/v1)")
    written = []
    for rel in (*JUDGED_TASK_CONFIGS, METRICX_TASK_CONFIG):
        path = Path(repo_dir) / rel
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
        path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
        written.append(path)
    return written


def run(settings: SeaHelmSettings, model_path: str, output_dir: str, script: str | Path | None = None) -> dict:
    """Write the script (default `output_dir`/run_seahelm.sh; for the eval container on the cluster); nothing is
    executed here."""
    script = Path(script or Path(output_dir) / "run_seahelm.sh")
    commands = render_commands(settings, model_path, output_dir)
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + "\n".join(commands) + "\n", encoding="utf-8")
    script.chmod(0o755)
    return {"script": str(script), "commands": commands, "results_glob": f"{output_dir}/**/run_*/results/*.json"}


def _lindsea(tasks: dict) -> Optional[float]:
    """SEA-HELM's linguistic-diagnostics score (src/aggregate_metrics.py, aggregate_pragmatics_metrics and
    aggregate_lindsea_metrics): the mean of mp-r's normalized_accuracy and of pragmatics, whose accuracy pools
    the correct/total counts of both pragmatic tasks per phenomenon, averages the phenomena and rescales above
    chance. syntax-criteria does not count."""
    scores = []
    if isinstance(tasks.get("mp-r"), dict):
        scores.append(float(tasks["mp-r"]["normalized_accuracy"]))
    pragmatic = [tasks[t]["subcategories"] for t in ("pragmatic-single", "pragmatic-pair")
                 if isinstance(tasks.get(t), dict) and "subcategories" in tasks[t]]
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
    ours = {"total": levels["sea_average"], **{f"{lang}/total": v for lang, v in levels["languages"].items()},
            **{f"{lang}/{comp}/total": v for (lang, comp), v in levels["competencies"].items()}}
    theirs = {"total": metrics.get("total")}
    for lang, comps in metrics.items():
        if isinstance(comps, dict):
            theirs[f"{lang}/total"] = comps.get("total")
            theirs.update({f"{lang}/{c}/total": t.get("total") for c, t in comps.items() if isinstance(t, dict)})
    return [f"{where}: {key} SEA-HELM {value} vs ours {ours.get(key)}" for key, value in theirs.items()
            if value is not None and (ours.get(key) is None or not math.isclose(value, ours[key], abs_tol=1e-6))]


def parse_results(output_dir: str | Path, run_seeds: Optional[dict[int, int]] = None) -> dict:
    """Collect every `run_*/results/*_seahelm_results_*.json` under `output_dir` (the newest file of a run) into our
    results dict: per-run scores grouped as SEA-HELM groups them, summarised over runs. A run whose file has no
    overall "total" did not finish (SEA-HELM writes it last) and is listed, not scored; a run whose totals differ
    from ours is listed under "disagreements"."""
    files = sorted(Path(output_dir).glob("**/run_*/results/*_seahelm_results_*.json"))
    if not files:
        raise FileNotFoundError(f"no SEA-HELM results (run_*/results/*_seahelm_results_*.json) under {output_dir}")
    newest: dict[Path, Path] = {}
    for f in files:  # sorted, so later timestamps overwrite earlier ones
        newest[f.parent.parent] = f
    scores, skipped, incomplete, disagreements, totals = [], set(), [], [], {}
    for run_dir, f in sorted(newest.items()):
        run_number = int(run_dir.name.removeprefix("run_"))
        metrics = json.loads(f.read_text(encoding="utf-8"))
        if not isinstance(metrics.get("total"), (int, float)):
            incomplete.append(str(f))
            continue
        run_rows, run_skipped = run_scores(metrics, run_number)
        scores += run_rows
        skipped.update(run_skipped)
        totals[run_number] = float(metrics["total"])
        disagreements += _disagreements(metrics, per_seed_levels(run_rows)[run_number], str(f))
    if not scores:
        raise ValueError(f"no finished SEA-HELM run under {output_dir} (no overall 'total' in {incomplete})")
    for line in disagreements:
        print(f"warning: {line}", file=sys.stderr)
    return {"source": "seahelm", "commit": SEAHELM_COMMIT, "files": [str(f) for f in newest.values()],
            "seeds": {run: (run_seeds or {}).get(run) for run in totals}, "seahelm_totals": totals,
            "aggregate": aggregate(scores), "skipped": sorted(skipped), "incomplete_runs": incomplete,
            "disagreements": disagreements}


# Checkpoint copies vLLM and transformers do not load (gpt-oss's original/ and metal/ folders, TF and Flax weights).
UNUSED_WEIGHTS = ["original/*", "metal/*", "*.msgpack", "*.h5", "tf_model*", "flax_model*"]


def stage_weights(settings: SeaHelmSettings, hf_home: str | Path, model: Optional[str] = None) -> list[str]:
    """Download what weights_to_stage lists into the Hugging Face cache `hf_home` (on a node with network; the eval
    jobs then run offline with SeaHelmSettings.hf_home pointing there). Of MetricX's tokenizer, only its files."""
    from huggingface_hub import snapshot_download

    ids = weights_to_stage(settings, model)
    for repo_id in ids:
        tokenizer_only = {"allow_patterns": ["*.json", "*.model"]} if repo_id == METRICX_TOKENIZER else {}
        snapshot_download(repo_id, cache_dir=Path(hf_home) / "hub", ignore_patterns=UNUSED_WEIGHTS, **tokenizer_only)
    return ids


def missing_weights(settings: SeaHelmSettings, model: Optional[str] = None) -> list[str]:
    """Hub ids in weights_to_stage that the cache at settings.hf_home does not hold (their config.json)."""
    from huggingface_hub import try_to_load_from_cache

    cache = Path(str(settings.hf_home)) / "hub"
    return [m for m in weights_to_stage(settings, model)
            if not isinstance(try_to_load_from_cache(m, "config.json", cache_dir=cache), str)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evals.seahelm", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="print the shell lines that run SEA-HELM")
    render.add_argument("model_path")
    render.add_argument("output_dir")
    render.add_argument("--tensor-parallel-size", type=int, default=1)
    render.add_argument("--runs", type=int, default=8, help="number of evaluation runs (SEA-HELM uses 8)")
    render.add_argument("--base-model", action="store_true")
    parse = sub.add_parser("parse", help="collect SEA-HELM result files into one results JSON")
    parse.add_argument("output_dir")
    configure = sub.add_parser("configure-judges", help="point the checkout's judged task configs at our judge")
    configure.add_argument("repo_dir")
    configure.add_argument("--judge-model", default=JudgeSettings.model_name)
    configure.add_argument("--judge-type", choices=JUDGE_MODEL_TYPES, default=JudgeSettings.model_type)
    configure.add_argument("--judge-base-url")
    configure.add_argument("--metricx-model", default=SeaHelmSettings.metricx_model)
    stage = sub.add_parser("stage-weights", help="download the judge and MetricX weights for offline nodes")
    stage.add_argument("hf_home")
    stage.add_argument("--judge-model", default=JudgeSettings.model_name)
    stage.add_argument("--model", help="the evaluated model too, when it is a hub id")
    args = parser.parse_args(argv)
    if args.command == "render":
        settings = SeaHelmSettings(tensor_parallel_size=args.tensor_parallel_size, runs=list(range(args.runs)),
                                   is_base_model=args.base_model)
        print("\n".join(render_commands(settings, args.model_path, args.output_dir)))
    elif args.command == "parse":
        print(json.dumps(parse_results(args.output_dir), indent=2))
    elif args.command == "configure-judges":
        judge = JudgeSettings(model_name=args.judge_model, model_type=args.judge_type, base_url=args.judge_base_url)
        for path in configure_judges(args.repo_dir, judge, args.metricx_model):
            print(f"configured {path}")
    else:
        staged = stage_weights(SeaHelmSettings(judge=JudgeSettings(model_name=args.judge_model)), args.hf_home,
                               args.model)
        print(f"staged {', '.join(staged)} in {args.hf_home}; set eval.seahelm.hf_home={args.hf_home}")


if __name__ == "__main__":
    main()
