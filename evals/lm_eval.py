"""lm-evaluation-harness Open LLM Leaderboard v2 tasks (the `leaderboard` group: BBH, GPQA, IFEval, MATH-Hard,
MMLU-Pro, MuSR): render the `lm_eval` command (vLLM on the cluster, HF transformers locally) and parse its
`results_<timestamp>.json` into our results dict (English "general" competency, one score per task, 0..100: the
headline metric's raw accuracy or exact-match rate x100; IFEval the mean of its prompt- and instruction-level strict
accuracies, as the Open LLM Leaderboard v2 scores it. The others are NOT the leaderboard's chance-normalised
scores: the report labels the suite raw everywhere it appears)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from evals.aggregate import TaskScore, aggregate
from recipes.core.schema import LmEvalSettings

# Headline metric(s) per leaderboard group (several: their mean). IFEval: the Open LLM Leaderboard v2 averages the
# two strict accuracies (Llama-2-7b's published 25.19 = (0.1848 + 0.3189) / 2 x 100).
LEADERBOARD_METRICS: dict[str, tuple[str, ...]] = {
    "leaderboard_bbh": ("acc_norm,none",),
    "leaderboard_gpqa": ("acc_norm,none",),
    "leaderboard_ifeval": ("prompt_level_strict_acc,none", "inst_level_strict_acc,none"),
    "leaderboard_math_hard": ("exact_match,none",),
    "leaderboard_mmlu_pro": ("acc,none",),
    "leaderboard_musr": ("acc_norm,none",),
}


def render_command(settings: LmEvalSettings, model_path: str, output_dir: str) -> str:
    """The `lm_eval` command line for `model_path`, writing under `output_dir`."""
    if settings.backend == "vllm":
        model_args = {
            "pretrained": model_path,
            "tensor_parallel_size": settings.tensor_parallel_size,
            "data_parallel_size": settings.data_parallel_size,
            "dtype": settings.dtype,
            "gpu_memory_utilization": settings.gpu_memory_utilization,
        }
        if settings.max_model_len:
            model_args["max_model_len"] = settings.max_model_len
    elif settings.backend == "hf":
        model_args = {"pretrained": model_path, "dtype": settings.dtype}
    else:
        raise ValueError(f"backend={settings.backend!r}: use 'vllm' (cluster) or 'hf' (local)")
    args = [
        "lm_eval",
        "--model",
        settings.backend,
        "--model_args",
        ",".join(f"{k}={v}" for k, v in model_args.items()),
        "--tasks",
        ",".join(settings.tasks),
        "--batch_size",
        settings.batch_size,
        "--output_path",
        output_dir,
        "--seed",
        str(settings.seed),
    ]
    if settings.apply_chat_template:
        args.append("--apply_chat_template")
        if settings.fewshot_as_multiturn:
            args.append("--fewshot_as_multiturn")
    if settings.log_samples:
        args.append("--log_samples")
    if settings.limit is not None:
        args += ["--limit", str(settings.limit)]
    return shlex.join(args)


def run(settings: LmEvalSettings, model_path: str, output_dir: str, script: str | Path | None = None) -> dict:
    """Write the script (default `output_dir`/run_lm_eval.sh; vLLM on the cluster or HF locally); nothing is
    executed here."""
    script = Path(script or Path(output_dir) / "run_lm_eval.sh")
    command = render_command(settings, model_path, output_dir)
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(f"#!/usr/bin/env bash\nset -euo pipefail\n{command}\n", encoding="utf-8")
    script.chmod(0o755)
    return {"script": str(script), "command": command}


def parse_results(output_dir: str | Path) -> dict:
    """Collect the newest `results_*.json` under `output_dir`: group headline scores (x100, raw) per task."""
    files = sorted(Path(output_dir).glob("**/results_*.json"))
    if not files:
        raise FileNotFoundError(f"no lm-eval results (results_*.json) under {output_dir}")
    data = json.loads(files[-1].read_text(encoding="utf-8"))
    sections = {**data.get("results", {}), **data.get("groups", {})}
    scores, tasks = [], {}
    for task, metrics in LEADERBOARD_METRICS.items():
        if task in sections and all(m in sections[task] for m in metrics):
            value = 100.0 * sum(float(sections[task][m]) for m in metrics) / len(metrics)
            tasks[task] = value
            scores.append(TaskScore(task, "general", "en", value))
    if not scores:
        raise ValueError(f"{files[-1]} has none of the leaderboard groups {sorted(LEADERBOARD_METRICS)}")
    return {
        "source": "lm_eval",
        "scores": "raw",
        "file": str(files[-1]),
        "model": data.get("model_name"),
        "tasks": tasks,
        "aggregate": aggregate(scores),
    }
