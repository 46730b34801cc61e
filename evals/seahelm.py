"""The official SEA-HELM evaluation (aisingapore/SEA-HELM) on the cluster: render its command, parse its results.

SEA-HELM runs from a checkout of its repository at a pinned commit inside the eval container
(`uv run src/seahelm_evaluation.py --tasks seahelm --model_type vllm ...`, see its docs/cli.md). It writes
`<output_dir>/<model basename>/run_<n>/results/<model basename>_seahelm_results_<datetime>.json` shaped
`{lang: {competency: {task: {metric: value}}}}`. LLM judges (MT-Bench) and MetricX (translation) are named in its task
configs (`judge_model_name` / `judge_model_type`); our settings override them and pass the judge's API key by
environment variable name, never by value.
"""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from evals.aggregate import TaskScore, aggregate

SEAHELM_REPO = "https://github.com/aisingapore/SEA-HELM.git"
SEAHELM_COMMIT = "6844e6c5cae439a413281df31271d388fcbad12f"
# Which metric in a task's results is its normalised score (SEA-HELM config key `metric`, per task).
DEFAULT_TASK_METRICS = {
    "translation": "normalized_metricx_wmt24_scores",
    "abstractive_summarization": "normalized_rougel_f1",
    "if_eval": "overall_lang_normalized_acc",
    "mt_bench": "weighted_win_rate",
}


@dataclass
class JudgeSettings:
    """An OpenAI-compatible LLM judge for MT-Bench-style tasks; `api_key_env` names the variable with the key."""

    model_name: str = "gpt-4.1-2025-04-14"
    model_type: str = "openai"
    base_url: Optional[str] = None
    api_key_env: str = "OPENAI_API_KEY"


@dataclass
class SeaHelmSettings:
    repo_dir: str = "/opt/SEA-HELM"
    commit: str = SEAHELM_COMMIT
    tasks: list[str] = field(default_factory=lambda: ["seahelm"])
    skip_tasks: list[str] = field(default_factory=list)
    model_type: str = "vllm"
    tensor_parallel_size: int = 1
    model_args: dict[str, str] = field(default_factory=lambda: {"enable_prefix_caching": "True"})
    is_base_model: bool = False
    is_reasoning_model: bool = False
    runs: list[int] = field(default_factory=lambda: list(range(8)))
    seed: int = 25008113
    limit: Optional[int] = None
    judge: JudgeSettings = field(default_factory=JudgeSettings)
    metricx_model: str = "google/metricx-24-hybrid-xxl-v2p6-bfloat16"


def render_commands(settings: SeaHelmSettings, model_path: str, output_dir: str) -> list[str]:
    """Shell lines that check out the pinned SEA-HELM, point its judge/MetricX configs at ours, and run every run."""
    # `uv run --directory` runs inside the SEA-HELM checkout, so relative paths would land there. With a served
    # (non-vLLM) model, model_path is a model name rather than a path.
    paths = {"output_dir": output_dir, **({"model_path": model_path} if settings.model_type == "vllm" else {})}
    for name, path in paths.items():
        if not Path(path).is_absolute():
            raise ValueError(f"{name}={path!r} must be an absolute path (SEA-HELM runs from its own checkout)")
    repo = shlex.quote(settings.repo_dir)
    model_args = {**settings.model_args, "tensor_parallel_size": str(settings.tensor_parallel_size)}
    lines = [
        f"test -d {repo}/.git || git clone {SEAHELM_REPO} {repo}",
        f"git -C {repo} fetch --quiet origin {settings.commit} || true",
        f"git -C {repo} checkout --quiet {settings.commit}",
        f"export OPENAI_API_KEY=\"${{{settings.judge.api_key_env}}}\"",
        # Judge and MetricX models live in the task configs; rewrite them in place in the pinned checkout.
        f"grep -rl 'judge_model_type: metricx' {repo}/seahelm_tasks | xargs -r sed -i "
        f"'s#judge_model_name: .*metricx.*#judge_model_name: {settings.metricx_model}#'",
        f"grep -rl 'judge_model_type: OpenAI' {repo}/seahelm_tasks | xargs -r sed -i "
        f"'s#judge_model_name: gpt-.*#judge_model_name: {settings.judge.model_name}#'",
    ]
    if settings.judge.base_url:
        lines.append(f"export OPENAI_BASE_URL={shlex.quote(settings.judge.base_url)}")
    for run_number in settings.runs:
        args = ["uv", "run", "--directory", settings.repo_dir, "src/seahelm_evaluation.py"]
        for task in settings.tasks:
            args += ["--tasks", task]
        args += ["--output_dir", output_dir, "--model_type", settings.model_type, "--model_name", model_path,
                 "--model_args", ",".join(f"{k}={v}" for k, v in model_args.items()),
                 "--run", str(run_number), "--seed", str(settings.seed)]
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


def run(settings: SeaHelmSettings, model_path: str, output_dir: str, script: str | Path | None = None) -> dict:
    """Write the script (default `output_dir`/run_seahelm.sh; for the eval container on the cluster); nothing is
    executed here."""
    script = Path(script or Path(output_dir) / "run_seahelm.sh")
    commands = render_commands(settings, model_path, output_dir)
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + "\n".join(commands) + "\n", encoding="utf-8")
    script.chmod(0o755)
    return {"script": str(script), "commands": commands, "results_glob": f"{output_dir}/**/run_*/results/*.json"}


def _task_score(task: str, metrics: dict, task_metrics: dict[str, str]) -> Optional[float]:
    if task in task_metrics and task_metrics[task] in metrics:
        return float(metrics[task_metrics[task]])
    normalised = [k for k in metrics if k.startswith("normalized_") and isinstance(metrics[k], (int, float))]
    return float(metrics[normalised[0]]) if len(normalised) == 1 else None


def parse_results(output_dir: str | Path, task_metrics: Optional[dict[str, str]] = None) -> dict:
    """Collect every `run_*/results/*_seahelm_results_*.json` under `output_dir` into our results dict
    (one seed per run; the newest file of a run wins)."""
    task_metrics = {**DEFAULT_TASK_METRICS, **(task_metrics or {})}
    files = sorted(Path(output_dir).glob("**/run_*/results/*_seahelm_results_*.json"))
    if not files:
        raise FileNotFoundError(f"no SEA-HELM results (run_*/results/*_seahelm_results_*.json) under {output_dir}")
    newest: dict[Path, Path] = {}
    for f in files:  # sorted, so later timestamps overwrite earlier ones
        newest[f.parent.parent] = f
    scores, skipped = [], []
    for run_dir, f in newest.items():
        seed = int(run_dir.name.removeprefix("run_"))
        for lang, competencies in json.loads(f.read_text(encoding="utf-8")).items():
            for competency, tasks in competencies.items():
                for task, metrics in tasks.items():
                    value = _task_score(task, metrics, task_metrics) if isinstance(metrics, dict) else None
                    if value is None:
                        skipped.append(f"{lang}/{competency}/{task}")
                        continue
                    scores.append(TaskScore(task, competency, lang, value, seed))
    return {"source": "seahelm", "files": [str(f) for f in newest.values()],
            "aggregate": aggregate(scores), "skipped": sorted(set(skipped))}


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
    args = parser.parse_args(argv)
    if args.command == "render":
        settings = SeaHelmSettings(tensor_parallel_size=args.tensor_parallel_size, runs=list(range(args.runs)),
                                   is_base_model=args.base_model)
        print("\n".join(render_commands(settings, args.model_path, args.output_dir)))
    else:
        print(json.dumps(parse_results(args.output_dir), indent=2))


if __name__ == "__main__":
    main()
