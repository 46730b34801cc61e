"""Stage data_prep: raw documents -> curated text (data_prep.curate: clean, language ID, quality, dedup, with
quarantine) -> Gemma 3 tokens in Megatron .bin/.idx (data_prep.tokenize) -> the weighted blend for the datamix
(data_prep.blend). The artifact holds curation/ (with its summary and quarantine), the prefixes, tokens.json,
blend.json and its report.

As a Slurm job array (stage.array, e.g. "0-63%32") the input files are split into as many shards as tasks (every
count-th file), and curation runs in data_prep.global_dedup's four steps, so that duplicates are found across the
whole run (every source, every shard), as one process reading all inputs in order would find them:
  1. screen (per shard, task i does shard i): clean, language ID, quality, MinHash signatures;
  2+3. buckets and clusters (global): the task that finds every shard screened, under a lock;
  4. filter and tokenise (per shard): every task alive once the clusters exist takes unclaimed shards.
A task that finishes screening while a sibling has not started yet (a throttled array: 64 tasks, 32 at a time)
does not wait for the clusters, which would hold the slot the sibling needs: it ends, and the tasks still running
filter and tokenise its shard. The task that finds every shard tokenised merges the shards and writes the blend.
Every record (screened, started, claimed, task-NNNN.json, merged) carries the launch it belongs to, so a rerun never
counts an earlier launch's work as done, and each step resumes: a requeued task skips what its shard already did
and takes back its own claims. The keys tokenised shards are reused on go into manifest.json (`resume_keys`)."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import time
from pathlib import Path

from recipes.artifacts import manifest
from recipes.core.atomic import write_text_atomic
from recipes.core.findings import Finding, Severity
from recipes.core.languages import LANGID_POLICIES
from recipes.core.run_layout import StageDir
from recipes.core.schema import DataPrepConfig, RootConfig
from recipes.core.stage_context import ArrayTask, StageContext, array_lock
from recipes.core.stage_specs import StageSpec
from recipes.core.status import StageOutcome, State, StatusRecord
from recipes.stages.checks import missing_path

MERGE_LOCK = ".merge.lock"
DEDUP_LOCK = ".dedup.lock"
LOCK_WAIT_S = 600
POLL_S = 1.0


def assigned_sources(sources: list[dict], task: ArrayTask) -> list[tuple[int, dict]]:
    """This task's inputs with their places in the run's input list: every data.sources entry expanded into one
    entry per file (a hub dataset or directory stays one entry), then every count-th one."""
    entries = []
    for source in sources:
        files = sorted(glob.glob(str(source["path"])))
        entries += [{**source, "path": f} for f in files] if files else [dict(source)]
    return list(enumerate(entries))[task.index :: task.count]


def execute(ctx: StageContext) -> StageOutcome:
    from data_prep import tokenize

    cfg, knobs, task = ctx.cfg, ctx.cfg.data_prep, ArrayTask.from_environment()
    settings = tokenize.TokenizeSettings(
        tokenizer=cfg.data.tokenizer, workers=knobs.workers, shard_bytes=knobs.shard_bytes
    )
    records = _records(ctx)
    _mark(records / f"started-{task.index:04d}", task)
    if not knobs.curate:  # tokenise the sources as they are: JSONL with id, text, lang, source per record
        _tokenize_shard(ctx, settings, task.index, [s["path"] for _, s in assigned_sources(_sources(ctx), task)])
        return _merge_if_last(ctx, task, settings)
    _screen(ctx, task)
    _deduplicate_if_last(ctx, task)
    started = len(list(records.glob("started-*")))
    if not (records / "deduplicated").exists() and started < task.count:
        # a sibling has not started: leave the slot to it; the tasks still running finish this shard
        return StageOutcome.PART_DONE
    _wait_for(records / "deduplicated", ctx.run_dir, task)
    # this task's own shard first (a requeued task takes back its claim), then any shard nobody took
    for shard in [task.index, *(i for i in range(task.count) if i != task.index)]:
        if _claim(records / f"claimed-{shard:04d}", task):
            _filter_and_tokenize(ctx, settings, ArrayTask(shard, task.count))
    return _merge_if_last(ctx, task, settings)


def _sources(ctx: StageContext) -> list[dict]:
    return [dict(s) for s in ctx.cfg.data.sources]


def _records(ctx: StageContext) -> Path:
    """This launch's coordination records (an earlier launch's sit in another directory)."""
    path = StageDir(ctx.run_dir).array_records / f"launch-{ctx.launch_key()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _mark(path: Path, task: ArrayTask) -> None:
    write_text_atomic(path, str(task.index))


def _shard_dir(ctx: StageContext, shard: int, count: int) -> Path:
    curation = ctx.artifact_dir / "curation"
    return curation if count == 1 else curation / f"task-{shard:04d}"


def _curation_settings(ctx: StageContext):
    from data_prep import curate
    from data_prep.dedup import DedupSettings
    from data_prep.langid import LangIdSettings
    from data_prep.quality import QualitySettings

    knobs = ctx.cfg.data_prep
    return curate.CurationSettings(
        langid=LangIdSettings(on_disagreement=knobs.on_language_disagreement),
        quality=QualitySettings(min_words=knobs.min_words),
        dedup=DedupSettings(threshold=knobs.dedup_threshold),
    )


def _screen(ctx: StageContext, task: ArrayTask) -> None:
    """Step 1 for this task's shard, unless this launch screened it already."""
    from data_prep import curate

    done = _records(ctx) / f"screened-{task.index:04d}"
    if done.exists():
        return
    assigned = assigned_sources(_sources(ctx), task)
    # Each data.sources entry declares its source name and language for the records it matches.
    summary = curate.screen(
        [s for _, s in assigned],
        _shard_dir(ctx, task.index, task.count),
        _curation_settings(ctx),
        positions=[i for i, _ in assigned],
    )
    if not summary.input_records and task.count == 1:
        raise ValueError(
            f"data_prep: data.sources hold no record ({', '.join(s['path'] for _, s in assigned)} "
            "are empty); point data.sources at the corpus files"
        )
    _mark(done, task)


def _deduplicate_if_last(ctx: StageContext, task: ArrayTask) -> None:
    """Steps 2 and 3 over every shard, by the task that finds them all screened."""
    from data_prep import curate, global_dedup

    records = _records(ctx)
    # no time-out: a sibling that screened at the same moment waits out a global dedup of any size
    with array_lock(ctx.artifact_dir / DEDUP_LOCK, task, wait_s=float("inf")):
        if (records / "deduplicated").exists() or len(list(records.glob("screened-*"))) < task.count:
            return
        shards = [_shard_dir(ctx, i, task.count) for i in range(task.count)]
        global_dedup.deduplicate(
            shards, _curation_settings(ctx).dedup, ctx.artifact_dir / "curation" / curate.DEDUP_DIR
        )
        _mark(records / "deduplicated", task)


def _wait_for(path: Path, run_dir: Path, task: ArrayTask) -> None:
    """Until `path` exists; a sibling's failure (its status record) stops the wait with its error."""
    while not path.exists():
        for status in StageDir(run_dir).task_statuses():
            record = StatusRecord.load(status)
            if record.state is State.FAILED and record.array_task != task.index:
                raise RuntimeError(
                    f"data_prep: array task {record.array_task} failed "
                    f"({record.error}); the global dedup it screens for cannot run"
                )
        time.sleep(POLL_S)


def _claim(path: Path, task: ArrayTask) -> bool:
    """Take a shard for steps 4 (exclusive file creation); a task's own earlier claim is its own again."""
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        os.write(fd, str(task.index).encode())
        os.close(fd)
        return True
    return path.read_text() == str(task.index) and not (path.parent / f"{path.name}.done").exists()


def _filter_and_tokenize(ctx: StageContext, settings, shard: ArrayTask) -> None:
    """Step 4 for one shard (numbered as the task that screened it): its survivors into curated/, then into
    token shards."""
    from rich.console import Console

    from data_prep import curate, global_dedup
    from data_prep.curation_output import CURATED_DIR, SUMMARY, finish

    count = shard.count
    shard_dir = _shard_dir(ctx, shard.index, count)
    records = _records(ctx)
    filtered = records / f"filtered-{shard.index:04d}"
    if not filtered.exists():
        finish(shard_dir, global_dedup.load_removals(ctx.artifact_dir / "curation" / curate.DEDUP_DIR, shard_dir.name))
        _mark(filtered, shard)
    summary = curate.CurationSummary(**json.loads((shard_dir / SUMMARY).read_text()))
    Console().print(curate.summary_table(summary))
    inputs = sorted(glob.glob(str(shard_dir / CURATED_DIR / "*.jsonl")))
    if not inputs and count == 1:
        raise ValueError(
            f"data_prep: curation kept no document of {summary.input_records} (see {shard_dir}); "
            "lower data_prep.min_words or set data_prep.curate=false"
        )
    _tokenize_shard(ctx, settings, shard.index, inputs)
    _mark(records / f"claimed-{shard.index:04d}.done", shard)


def _tokenize_shard(ctx: StageContext, settings, shard: int, inputs: list[str]) -> None:
    from data_prep import tokenize

    out = ctx.artifact_dir
    shard_ids, skipped = tokenize.tokenize_shards(settings, inputs, str(out)) if inputs else ([], 0)
    records = StageDir(ctx.run_dir).array_records
    records.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        records / f"task-{shard:04d}.json",
        json.dumps(
            {
                "launch": ctx.launch_key(),
                "shard_ids": shard_ids,
                "skipped": skipped,
                "resume_keys": tokenize.resume_keys(settings, inputs),
            }
        ),
    )


def _merge_if_last(ctx: StageContext, task: ArrayTask, settings) -> StageOutcome:
    """Merge and blend once every task has committed its shards; DONE when this task did it."""
    from data_prep import blend, tokenize

    out, knobs, launch = ctx.artifact_dir, ctx.cfg.data_prep, ctx.launch_key()
    records = StageDir(ctx.run_dir).array_records
    merged = records / "merged"
    with array_lock(out / MERGE_LOCK, task, LOCK_WAIT_S):
        parts = [
            part
            for part in (json.loads(p.read_text()) for p in sorted(records.glob("task-*.json")))
            if part.get("launch") == launch
        ]
        done = merged.exists() and json.loads(merged.read_text()).get("launch") == launch
        if len(parts) < task.count or (done and task.count > 1):
            return StageOutcome.PART_DONE  # a sibling is still tokenising (it will merge), or one already merged
        tokenized = tokenize.merge(
            settings, [sid for p in parts for sid in p["shard_ids"]], str(out), sum(p["skipped"] for p in parts)
        )
        blend.run(
            blend.BlendSettings(
                budget_tokens=ctx.cfg.data.budget_tokens, max_epochs=knobs.max_epochs, drop_missing=knobs.drop_missing
            ),
            ctx.cfg.data.datamix,
            tokenized.tokens_json,
            str(out),
        )
        keys = [p["resume_keys"] for p in parts]
        manifest.record(
            StageDir(ctx.run_dir).manifest,
            "resume_keys",
            {**keys[0], "inputs": {k: v for part in keys for k, v in part["inputs"].items()}},
        )
        merged.write_text(json.dumps({"launch": launch, "task": task.index}))
    return StageOutcome.DONE


def check_sources(cfg: RootConfig) -> list[Finding]:
    """Every data.sources path (a glob) matches a file here, unless an earlier stage of the pipeline writes it."""
    if not cfg.launch.check_paths:
        return []
    out = [
        missing_path(
            cfg,
            f"data.sources[{i}].path",
            str(source.get("path")),
            f"no file matches {source.get('path')}",
            "fix the path or set launch.check_paths=false if it exists only on the cluster",
        )
        for i, source in enumerate(cfg.data.sources)
        if not glob.glob(str(source.get("path", "")))
    ]
    return [f for f in out if f]


def check_data_prep(cfg: RootConfig) -> list[Finding]:
    d, out = cfg.data_prep, []
    if d.on_language_disagreement not in LANGID_POLICIES:
        out.append(
            Finding(
                "data_prep.on_language_disagreement",
                f"unknown policy {d.on_language_disagreement!r}",
                f"use one of {list(LANGID_POLICIES)}",
            )
        )
    if not 0 < d.dedup_threshold <= 1:
        out.append(
            Finding(
                "data_prep.dedup_threshold",
                f"{d.dedup_threshold} is not a Jaccard similarity",
                "use a value in (0, 1], e.g. 0.7",
            )
        )
    return out


def check_tokenizer(cfg: RootConfig) -> list[Finding]:
    """data.tokenizer loads here, where it is a local directory (a hub id is fetched where the job runs); on an
    install without the `tokenizers` package (the launcher's alone) only its existence is checked."""
    from data_prep.tokenize import looks_like_path, tokenizer_problem

    name = cfg.data.tokenizer
    if cfg.launch.check_paths and not looks_like_path(name) and _offline(cfg) and cfg.cluster.executor == "local":
        problem = tokenizer_problem(name)  # a hub id offline: it loads only from this machine's cache
        return (
            [
                Finding(
                    "data.tokenizer",
                    f"the hub tokenizer {name} is not in this machine's Hugging Face cache and "
                    f"HF_HUB_OFFLINE is set ({problem})",
                    'fetch it once online (python -c "from transformers '
                    f"import AutoTokenizer; AutoTokenizer.from_pretrained('{name}')\") or point data.tokenizer at "
                    "a directory holding tokenizer.json",
                )
            ]
            if problem
            else []
        )
    if not cfg.launch.check_paths or not looks_like_path(name):
        return []
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        problem = None if os.path.isdir(name) else "no such directory"
    else:
        problem = tokenizer_problem(name)
    severity: Severity = "warning" if cfg.launch.dryrun else "error"
    return (
        [
            Finding(
                "data.tokenizer",
                f"{name} does not load ({problem})",
                "point it at a directory holding tokenizer.json (or a hub id), or set launch.check_paths=false "
                "if it exists only on the cluster",
                severity,
            )
        ]
        if problem
        else []
    )


def _offline(cfg: RootConfig) -> bool:
    """The job runs with the Hugging Face hub switched off (cluster.env or this environment)."""
    env = {**os.environ, **cfg.cluster.env}
    return any(env.get(k, "").lower() in ("1", "true", "yes") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def check_datamix_rows(cfg: RootConfig) -> list[Finding]:
    """data_prep: every datamix row has a language that data.sources declare, when every source declares its
    language (otherwise the records name it, known only once they are read)."""
    from data_prep import datamix

    if not os.path.isfile(cfg.data.datamix):
        return []
    declared = [s.get("lang") for s in cfg.data.sources]
    if not declared or not all(isinstance(lang, str) and lang for lang in declared):
        return []
    try:
        mix = datamix.load(cfg.data.datamix)
    except (ValueError, TypeError, OSError) as err:
        return [Finding("data.datamix", str(err), "fix the datamix file")]
    empty = [r.key for r in mix.rows if not set(r.languages) & set(declared)]
    if not empty:
        return []
    severity: Severity = "warning" if cfg.data_prep.drop_missing else "error"
    return [
        Finding(
            "data.sources",
            f"datamix rows {empty} have no source: data.sources declare only languages "
            f"{sorted({str(d) for d in declared})}",
            "add the sources of those languages to data.sources, or set data_prep.drop_missing=true to drop those rows",
            severity,
        )
    ]


STAGE = StageSpec(
    name="data_prep",
    order=20,
    summary="raw documents -> curated text -> Gemma 3 tokens (.bin/.idx) -> the datamix blend",
    engine="python",
    payload_kind="indexed_dataset",
    execute=execute,
    checks=(check_data_prep, check_tokenizer, check_datamix_rows, check_sources),
    array=True,
    sections={"data_prep": DataPrepConfig},
)
