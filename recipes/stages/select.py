"""Stage select: gradient-based prompt selection (LESS, Xia et al. 2024) of select.candidates for each of
select.targets, with the stage's model (run.input, the upstream model, or model.hf_id). The artifact holds
selected.jsonl (the union over targets, {id, prompt or messages, lang, targets}: what clair.prompts reads),
selected/<target>.jsonl with scores, scores.jsonl, report.json and scores.png.

As a Slurm job array (stage.array, one GPU per task) every task writes every count-th feature shard after the
warm-up (task 0 trains it, the others wait for it); the task that finds every shard written scores and selects. Shards
are written atomically and keyed on their inputs, so a requeued task resumes."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from recipes.core.atomic import write_text_atomic
from recipes.core.findings import Finding
from recipes.core.model_size import total_parameters
from recipes.core.schema import RootConfig
from recipes.core.stage_context import ArrayTask, StageContext, array_lock
from recipes.core.stage_specs import StageSpec
from recipes.core.status import StageOutcome
from recipes.posttrain.prompt_selection.settings import SelectConfig

WARMUP_POLL_S = 30
WARMUP_FAILED = "warmup.failed"  # array task 0 writes why; the waiting tasks stop on it
SELECTED_MARKER = ".selected"  # which launch selected: a later task of the same launch does not select again


def settings(ctx: StageContext):
    return ctx.cfg.select.settings(ctx.cfg.select.model or ctx.model_source())


def wait_for_warmup(out, pool, knobs, task: ArrayTask) -> None:
    """Array task 0 trains the warm-up; the others wait for its checkpoints, and fail with it if it fails (rather
    than hold their GPUs until the job's time limit)."""
    from recipes.posttrain.prompt_selection.warmup import load_checkpoints, warmup

    failed = out / WARMUP_FAILED
    if task.index == 0:
        failed.unlink(missing_ok=True)
        try:
            warmup(out / "warmup", pool, knobs)
        except BaseException as err:
            write_text_atomic(failed, f"{type(err).__name__}: {err}\n")
            raise
        return
    while load_checkpoints(out / "warmup", pool, knobs) is None:
        if failed.exists():
            raise RuntimeError(
                f"select: array task 0's warm-up failed ({failed.read_text().strip()}); see its log, "
                "then rerun the stage"
            )
        time.sleep(WARMUP_POLL_S)


def execute(ctx: StageContext) -> StageOutcome:
    from transformers import AutoTokenizer

    from recipes.posttrain.prompt_selection.pool import read_prompts
    from recipes.posttrain.prompt_selection.run import compute_features, select
    from recipes.posttrain.prompt_selection.tokens import truncated

    task, out = ArrayTask.from_environment(), ctx.artifact_dir
    out.mkdir(parents=True, exist_ok=True)
    # every file is read (and refused, naming the row) before the warm-up: a bad target row costs seconds, not hours
    pool, knobs = read_prompts(ctx.cfg.select.candidates), settings(ctx)
    targets = {name: read_prompts(path) for name, path in ctx.cfg.select.targets.items()}
    if task.index == 0:
        tokenizer = AutoTokenizer.from_pretrained(knobs.model)
        for name, prompts in {"candidates": pool, **targets}.items():
            if cut := truncated(tokenizer, prompts, knobs.max_tokens):
                print(
                    f"select: {cut} of {len(prompts)} {name} rows are longer than select.max_tokens="
                    f"{knobs.max_tokens} tokens and are cut to it",
                    flush=True,
                )
    wait_for_warmup(out, pool, knobs, task)
    if not compute_features(out, pool, knobs, task.index, task.count):
        return StageOutcome.PART_DONE  # a sibling still writes its shards; the last one to finish selects
    # Every task that finds all shards written gets here; the first one through the lock selects, the rest see
    # its marker. No time-out: scoring a large pool may take longer than any fixed wait.
    done, launch = out / SELECTED_MARKER, ctx.launch_key()
    with array_lock(out / ".select.lock", task, wait_s=float("inf")):
        if task.count > 1 and done.exists() and json.loads(done.read_text()).get("launch") == launch:
            return StageOutcome.PART_DONE
        summary = select(out, pool, targets, knobs)
        write_text_atomic(done, json.dumps({"launch": launch, "task": task.index}))
    for name, target in summary["targets"].items():
        langs = ", ".join(f"{lang} {n}" for lang, n in target["by_language"].items())
        print(f"select: {name}: {target['selected']} of {summary['pool']['size']} ({langs})", flush=True)
    return StageOutcome.DONE


def _pool_rows(path: str) -> int:
    """Rows of a candidate pool: Parquet metadata, else non-blank JSONL lines."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def feature_bytes(cfg: RootConfig, candidates: int) -> int:
    """LESS's candidate feature storage: candidates x projection dimension x checkpoints x float32."""
    from recipes.posttrain.prompt_selection.settings import FEATURE_BYTES

    return candidates * cfg.select.proj_dim * cfg.select.checkpoints * FEATURE_BYTES


def check_select(cfg: RootConfig) -> list[Finding]:
    """The pool and targets are set and readable row by row (ids, languages, texts; rows over select.max_tokens
    counted), the smoke preset's sample target does not stand beside the user's, and the pool's gradient features
    fit the run directory's free space."""
    from recipes.core.config import REPO_ROOT
    from recipes.posttrain.prompt_selection.inputs import check_inputs
    from recipes.posttrain.prompt_selection.projection import NONZEROS

    s = cfg.select
    if not s.candidates:
        return [
            Finding(
                "select.candidates",
                "no candidate pool",
                "set select.candidates=<JSONL/Parquet of {id, prompt or messages, lang}>",
            )
        ]
    if not s.targets:
        return [Finding("select.targets", "no target set", "add one: +select.targets.<name>=<JSONL of target prompts>")]
    out = []
    sample = (REPO_ROOT / "data_prep" / "sample_select").resolve()
    samples = [name for name, path in s.targets.items() if Path(path).resolve().parent == sample]
    if samples and len(samples) < len(s.targets):
        out += [
            Finding(
                f"select.targets.{name}",
                "the preset's sample target is still set beside yours (Hydra adds "
                "+select.targets.<name> to the preset's targets): its picks would go into selected.jsonl",
                f"drop it: ~select.targets.{name}",
            )
            for name in samples
        ]
    out += [
        Finding(f"select.{name}", f"{value} is not in (0, 1]", f"set select.{name} to a share, e.g. 0.05")
        for name, value in (("select_fraction", s.select_fraction), ("warmup_fraction", s.warmup_fraction))
        if not 0 < value <= 1
    ]
    out += [
        Finding(f"select.{name}", f"{value} is below 1", f"set select.{name} to a positive count")
        for name in ("proj_dim", "checkpoints", "max_tokens", "lora_r", "batch_size", "shard_size")
        if (value := getattr(s, name)) < 1
    ]
    if s.proj_dim >= 1 and s.proj_dim % NONZEROS:
        out.append(
            Finding(
                "select.proj_dim",
                f"{s.proj_dim} is not a multiple of {NONZEROS} (the sparse projection's chunks)",
                "set select.proj_dim to e.g. 8192 (LESS) or 256",
            )
        )
    if s.max_grad_norm < 0:
        out.append(
            Finding("select.max_grad_norm", f"{s.max_grad_norm} is negative", "set 1.0 (LESS) or 0 (no clipping)")
        )
    gpu_gib = cfg.cluster.gpu_memory_gib
    weights_gib = total_parameters(cfg) * 4 / 2**30  # prompt_selection/model.py loads float32
    if gpu_gib and not s.model and weights_gib > gpu_gib:
        out.append(
            Finding(
                "select.model",
                f"select would hold {cfg.model.name}'s weights in float32 "
                f"({weights_gib:.0f} GiB) on one {gpu_gib:.0f} GiB GPU",
                "select with a smaller model of "
                "the family (LESS transfers a small model's selection to larger ones): "
                "select.model=google/gemma-3-4b-it",
            )
        )
    if out:
        return out
    files = {"select.candidates": s.candidates, **{f"select.targets.{name}": path for name, path in s.targets.items()}}
    out = [
        Finding(p.field, p.message, p.fix, p.severity)
        for p in check_inputs(files, s.max_tokens, s.model or cfg.run.input or cfg.model.hf_id)
    ]
    if not os.path.isfile(s.candidates) or any(f.severity == "error" for f in out):
        return out  # check_paths names a missing pool
    need = feature_bytes(cfg, _pool_rows(s.candidates))
    where = Path(cfg.launch.root).resolve()
    while not where.exists():
        where = where.parent
    free = shutil.disk_usage(where).free
    if need > free:
        out.append(
            Finding(
                "select.proj_dim",
                f"the candidate features need {need / 2**30:.1f} GiB (candidates x "
                f"{s.proj_dim} dims x {s.checkpoints} checkpoints x 4 bytes) but {where} has "
                f"{free / 2**30:.1f} GiB free",
                "lower select.proj_dim, split select.candidates, or point launch.root at a larger file system",
            )
        )
    return out


STAGE = StageSpec(
    name="select",
    order=70,
    summary="gradient-based prompt selection (LESS) of select.candidates for each of select.targets",
    engine="transformers",
    payload_kind="jsonl",
    execute=execute,
    checks=(check_select,),
    engine_modules=("torch", "transformers", "peft"),
    array=True,
    keeps_upstream_model=True,
    input_paths=("select.candidates", "select.targets"),
    sections={"select": SelectConfig},
)
