"""Stage select: gradient-based prompt selection (LESS, Xia et al. 2024) of select.candidates for each of
select.targets, with the stage's model (run.input, the upstream model, or model.hf_id). The artifact holds
selected.jsonl (the union over targets, {id, prompt or messages, lang, targets}: what clair.prompts reads),
selected/<target>.jsonl with scores, scores.jsonl, report.json and scores.png.

As a Slurm job array (stage.array, one GPU per task) every task writes every count-th feature shard after the
warm-up (task 0 trains it, the others wait for it); the task that finds every shard written scores and selects. Shards are written atomically and keyed on their inputs, so a requeued task resumes."""

from __future__ import annotations

import json
import time

from recipes.core.atomic import write_text_atomic
from recipes.core.stage_context import ArrayTask, StageContext, array_lock
from recipes.core.status import StageOutcome

WARMUP_POLL_S = 30
WARMUP_FAILED = "warmup.failed"  # array task 0 writes why; the waiting tasks stop on it
SELECTED_MARKER = ".selected"  # which launch selected: a later task of the same launch does not select again


def settings(ctx: StageContext):
    from recipes.posttrain.prompt_selection.settings import SelectionSettings

    s = ctx.cfg.select
    return SelectionSettings(
        model=s.model or ctx.model_source(),
        max_tokens=s.max_tokens,
        lora_r=s.lora_r,
        lora_alpha=s.lora_alpha,
        lora_dropout=s.lora_dropout,
        lora_target_modules=tuple(s.lora_target_modules),
        warmup_fraction=s.warmup_fraction,
        checkpoints=s.checkpoints,
        lr=s.lr,
        warmup_ratio=s.warmup_ratio,
        batch_size=s.batch_size,
        max_grad_norm=s.max_grad_norm,
        bf16=s.bf16,
        candidate_gradient=s.candidate_gradient,
        proj_dim=s.proj_dim,
        select_fraction=s.select_fraction,
        shard_size=s.shard_size,
        seed=s.seed,
    )


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
