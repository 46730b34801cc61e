"""Stage data_prep: raw documents -> curated text (data_prep.curate: clean, language ID, quality, dedup, with
quarantine) -> Gemma 3 tokens in Megatron .bin/.idx (data_prep.tokenize) -> the weighted blend for the datamix
(data_prep.blend). The artifact holds curation/ (with its summary and quarantine), the prefixes, tokens.json,
blend.json and its report.

As a Slurm job array (stage.array, e.g. "0-63%16") every task takes every count-th input file: it curates them
(near-duplicates are found within a task's files, as FineWeb deduplicates per crawl) and commits their token
shards; the task that finds all its siblings done merges the shards and writes the blend, under a lock file.
Task records and the merge marker carry the launch they belong to, so a rerun never counts an earlier launch's
tasks as done; the keys that tokenised shards are reused on go into manifest.json (`resume_keys`)."""

from __future__ import annotations

import glob
import json

from recipes.artifacts import manifest
from recipes.core.atomic import write_text_atomic
from recipes.core.run_layout import StageDir
from recipes.core.stage_context import ArrayTask, StageContext, array_lock

MERGE_LOCK = ".merge.lock"
LOCK_WAIT_S = 600


def assigned_sources(sources: list[dict], task: ArrayTask) -> list[dict]:
    """This task's inputs: every data.sources entry expanded into one entry per file (a hub dataset or directory
    stays one entry), then every count-th one."""
    entries = []
    for source in sources:
        files = sorted(glob.glob(str(source["path"])))
        entries += [{**source, "path": f} for f in files] if files else [dict(source)]
    return entries[task.index::task.count]


def execute(ctx: StageContext) -> bool:
    from rich.console import Console

    from data_prep import curate, tokenize
    from data_prep.dedup import DedupSettings
    from data_prep.langid import LangIdSettings
    from data_prep.quality import QualitySettings

    cfg, knobs, task = ctx.cfg, ctx.cfg.data_prep, ArrayTask.from_environment()
    out = ctx.artifact_dir
    sources = assigned_sources([dict(s) for s in cfg.data.sources], task)
    if knobs.curate:
        settings = curate.CurationSettings(langid=LangIdSettings(on_disagreement=knobs.on_language_disagreement),
                                           quality=QualitySettings(min_words=knobs.min_words),
                                           dedup=DedupSettings(threshold=knobs.dedup_threshold))
        curated = out / "curation" if task.count == 1 else out / "curation" / f"task-{task.index:04d}"
        # Each data.sources entry declares its source name and language for the records it matches.
        summary = curate.curate(sources, str(curated), settings)
        Console().print(curate.summary_table(summary))
        inputs = sorted(glob.glob(str(curated / "curated" / "*.jsonl")))
        if not summary.input_records and task.count == 1:
            raise ValueError(f"data_prep: data.sources hold no record ({', '.join(s['path'] for s in sources)} "
                             "are empty); point data.sources at the corpus files")
        if not inputs and task.count == 1:
            raise ValueError(f"data_prep: curation kept no document of {summary.input_records} (see {curated}); "
                             "lower data_prep.min_words or set data_prep.curate=false")
    else:  # tokenise the sources as they are: JSONL with id, text, lang, source per record
        inputs = [s["path"] for s in sources]
    settings = tokenize.TokenizeSettings(tokenizer=cfg.data.tokenizer, workers=knobs.workers,
                                         shard_bytes=knobs.shard_bytes)
    shard_ids, skipped = tokenize.tokenize_shards(settings, inputs, str(out)) if inputs else ([], 0)
    tasks_dir = out / "tasks"
    tasks_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(tasks_dir / f"task-{task.index:04d}.json",
                      json.dumps({"launch": ctx.launch_key(), "shard_ids": shard_ids, "skipped": skipped,
                                  "resume_keys": tokenize.resume_keys(settings, inputs)}))
    return _merge_if_last(ctx, task, settings)


def _merge_if_last(ctx: StageContext, task: ArrayTask, settings) -> bool:
    """Merge and blend once every task has committed its shards; True when this task did it."""
    from data_prep import blend, tokenize

    out, knobs, launch = ctx.artifact_dir, ctx.cfg.data_prep, ctx.launch_key()
    merged = out / "tasks" / "merged"
    with array_lock(out / MERGE_LOCK, task, LOCK_WAIT_S):
        parts = [part for part in (json.loads(p.read_text()) for p in sorted((out / "tasks").glob("task-*.json")))
                 if part.get("launch") == launch]
        done = merged.exists() and json.loads(merged.read_text()).get("launch") == launch
        if len(parts) < task.count or (done and task.count > 1):
            return False  # a sibling is still tokenising (it will merge), or one already merged
        tokenized = tokenize.merge(settings, [sid for p in parts for sid in p["shard_ids"]], str(out),
                                   sum(p["skipped"] for p in parts))
        blend.run(blend.BlendSettings(budget_tokens=ctx.cfg.data.budget_tokens, max_epochs=knobs.max_epochs,
                                      drop_missing=knobs.drop_missing),
                  ctx.cfg.data.datamix, tokenized.tokens_json, str(out))
        keys = [p["resume_keys"] for p in parts]
        manifest.record(StageDir(ctx.run_dir).manifest, "resume_keys",
                        {**keys[0], "inputs": {k: v for part in keys for k, v in part["inputs"].items()}})
        merged.write_text(json.dumps({"launch": launch, "task": task.index}))
    return True

