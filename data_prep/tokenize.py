"""JSONL documents -> Megatron indexed datasets (.bin/.idx), one merged prefix per (source, lang) or per input.

Choices, and why:
  - Each document is its tokens followed by <eos> (id 1) and NO <bos>: Megatron GPT pretraining concatenates
    documents into fixed-length samples, so the <eos> is the document boundary the model learns; a <bos> per
    document would waste a token per document and teach <bos> mid-sequence (`add_bos` turns it on).
  - Work is split into byte-range shards of each input (a line belongs to the shard holding its first byte), so
    shards need no index pass and run in parallel in a process pool; each worker batch-encodes with the Rust
    tokenizer (`encode_batch_fast`, one thread per worker) and writes with numpy through megatron-core's
    `IndexedDatasetBuilder`.
  - Resumable: a shard is written into `shards/<id>.tmp/` and committed by renaming the directory to
    `shards/<id>/` (atomic); a rerun skips committed shards and rewrites uncommitted ones, so a killed job loses
    no document and duplicates none. Kill the whole process group: an orphaned worker could still commit a shard.
    A stop (SIGTERM, SIGINT) lets each worker finish the shard it holds, and no worker starts another.
    A shard's id carries a key of everything that determines it (`resume_keys`: the input's path and SHA-256,
    the tokenizer.json's SHA-256, the settings that shape the output), so a changed input or setting makes new
    shards instead of reusing old ones; the cost is one extra read of each input per run.
  - Shards are merged per prefix with `IndexedDatasetBuilder.add_index` (shard order is deterministic), so the
    blend lists one prefix per prepared source rather than thousands of shard prefixes.
  - `tokens.json` holds the measured documents and tokens per prefix: the input of data_prep.blend.
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from recipes.core.atomic import write_text_atomic
from recipes.core.hub_ids import is_local_path

GROUP_BY = ("source_lang", "input")


@dataclass
class TokenizeSettings:
    tokenizer: str = ""  # Hugging Face tokenizer directory or hub id (the Gemma 3 tokenizer)
    workers: int = 2  # processes in the pool
    shard_bytes: int = 64 * 1024 * 1024  # bytes of input per shard (the unit of resume)
    batch_size: int = 256  # documents per encode_batch_fast call
    group_by: str = "source_lang"  # "source_lang": one prefix per (source, lang); "input": one per input file
    text_field: str = "text"
    append_eos: bool = True
    add_bos: bool = False


@dataclass
class PreparedPrefix:
    prefix: str  # path prefix of the .bin/.idx, relative to the directory of tokens.json
    key: str
    source: str
    lang: str  # "mixed" when group_by=input and the input holds several languages
    documents: int
    tokens: int


@dataclass
class TokenizeSummary:
    output_dir: str
    tokens_json: str
    prefixes: list[PreparedPrefix] = field(default_factory=list)
    shards: int = 0
    shards_skipped: int = 0  # committed by an earlier (killed) run
    documents: int = 0
    tokens: int = 0
    seconds: float = 0.0


@dataclass
class _Shard:
    shard_id: str
    input_index: int
    path: str
    start: int
    end: int


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


@functools.cache
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_sha256(path: str) -> str:
    """The file's SHA-256, computed once per process while its size and modification time stay the same."""
    stat = os.stat(path)
    return _file_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


def tokenizer_sha256(name_or_dir: str) -> str:
    """SHA-256 of the tokenizer's tokenizer.json; a hub id stands for itself (`hub:<id>`)."""
    path = Path(name_or_dir) / "tokenizer.json"
    return file_sha256(str(path)) if path.is_file() else f"hub:{name_or_dir}"


def settings_key(settings: TokenizeSettings) -> str:
    """What shapes the shards besides their input bytes: the tokenizer's content and the output settings (not
    workers or batch size, which change only the speed)."""
    shaping = {
        "tokenizer_sha256": tokenizer_sha256(settings.tokenizer),
        "shard_bytes": settings.shard_bytes,
        "group_by": settings.group_by,
        "text_field": settings.text_field,
        "append_eos": settings.append_eos,
        "add_bos": settings.add_bos,
    }
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()


def resume_keys(settings: TokenizeSettings, input_paths: list[str]) -> dict:
    """The keys finished shards are reused on, for the run's manifest."""
    return {
        "tokenizer_sha256": tokenizer_sha256(settings.tokenizer),
        "settings": settings_key(settings),
        "inputs": {str(p): file_sha256(str(p)) for p in input_paths},
    }


def plan_shards(input_paths: list[str], shard_bytes: int, key: str = "") -> list[_Shard]:
    """Byte-range shards of every input, in a deterministic order; `key` is `settings_key`."""
    shards = []
    for i, path in enumerate(input_paths):
        if str(path).endswith((".gz", ".zst", ".bz2", ".xz")):
            raise ValueError(f"input {path}: compressed input is not supported; decompress to plain .jsonl first")
        size = os.path.getsize(path)
        # Named by the input's absolute path, not its position (array tasks tokenise disjoint input lists), and
        # by its content and the settings, so that a shard is reused only for the same input and settings.
        determined_by = f"{Path(path).resolve()}\n{file_sha256(str(path))}\n{key}"
        digest = hashlib.sha1(determined_by.encode()).hexdigest()[:10]
        for j, start in enumerate(range(0, max(size, 1), shard_bytes)):
            sid = f"{_safe(Path(path).stem)}-{digest}-{j:05d}"
            shards.append(_Shard(sid, i, str(path), start, min(start + shard_bytes, size)))
    return shards


def _read_lines(shard: _Shard):
    """Yield (byte_offset, line) for lines whose first byte lies in [start, end)."""
    with open(shard.path, "rb") as f:
        if shard.start > 0:
            f.seek(shard.start - 1)
            f.readline()  # finish the line that holds byte start-1: it belongs to the previous shard
        while True:
            offset = f.tell()
            if offset >= shard.end:
                return
            line = f.readline()
            if not line:
                return
            if line.strip():
                yield offset, line


_worker: dict = {}


def _init_worker(settings: TokenizeSettings) -> None:
    from recipes.core.parent_death import signal_on_parent_death

    signal_on_parent_death(signal.SIGKILL)  # a worker whose run was killed would wait on its queue for ever
    # A stop (SIGTERM from Slurm or the launcher, SIGINT) reaches the whole process group. A forked worker would
    # inherit the stage's handler and abandon its shard mid-way, then run the queued ones: instead it finishes the
    # shard it holds (committed, not redone) and takes no new one (`_work`), while the stage unwinds.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop_worker)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one core per worker: parallelism comes from the pool
    warnings.filterwarnings("ignore", module="megatron")
    _worker["settings"] = settings
    _worker["tokenizer"] = load_fast_tokenizer(settings.tokenizer)


def _stop_worker(signum: int, _frame) -> None:
    _worker["stopping"] = signal.Signals(signum).name


def load_fast_tokenizer(name_or_dir: str):
    """The Rust tokenizer: read tokenizer.json directly (under 1 s) rather than AutoTokenizer (about 7 s)."""
    path = Path(name_or_dir) / "tokenizer.json"
    if path.is_file():
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(path))
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name_or_dir).backend_tokenizer


def _key_of(doc: dict, shard: _Shard, settings: TokenizeSettings, where: str) -> tuple[str, str, str]:
    if settings.group_by == "input":
        return _safe(Path(shard.path).stem), Path(shard.path).stem, doc.get("lang", "")
    for name in ("source", "lang"):
        if not isinstance(doc.get(name), str) or not doc[name]:
            raise ValueError(
                f"{where}: field {name!r} is missing or empty; every document needs 'source' and "
                f"'lang' with group_by=source_lang (or tokenize with group_by=input)"
            )
    return _safe(f"{doc['source']}__{doc['lang']}"), doc["source"], doc["lang"]


def _tokenize_shard(shard: _Shard, out_root: str) -> dict:
    """Tokenise one shard into shards/<id>.tmp/<key>.{bin,idx}, then commit it by renaming the directory."""
    from megatron.core.datasets.indexed_dataset import DType, IndexedDatasetBuilder

    settings: TokenizeSettings = _worker["settings"]
    tokenizer = _worker["tokenizer"]
    dtype = DType.optimal_dtype(tokenizer.get_vocab_size())
    tmp = Path(out_root) / "shards" / f"{shard.shard_id}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    builders: dict[str, IndexedDatasetBuilder] = {}
    counts: dict[str, dict] = {}
    suffix = [1] if settings.append_eos else []
    prefix = [2] if settings.add_bos else []

    def flush(batch: list[tuple[str, str]]) -> None:
        # encode_batch_fast skips character offsets (unused here): 1.4x faster than encode_batch, same ids
        encodings = tokenizer.encode_batch_fast([text for _, text in batch], add_special_tokens=False)
        for (key, _), enc in zip(batch, encodings):
            ids = np.array(prefix + enc.ids + suffix, dtype=dtype)
            builders[key].add_document(ids, [ids.size])
            counts[key]["documents"] += 1
            counts[key]["tokens"] += int(ids.size)

    batch: list[tuple[str, str]] = []
    for offset, line in _read_lines(shard):
        where = f"{shard.path} (byte {offset})"
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: not valid JSON ({err}); each line must be one JSON object") from None
        text = doc.get(settings.text_field)
        if not isinstance(text, str):
            raise ValueError(f"{where}: field {settings.text_field!r} is missing or not a string")
        key, source, lang = _key_of(doc, shard, settings, where)
        if key not in builders:
            builders[key] = IndexedDatasetBuilder(str(tmp / f"{key}.bin"), dtype=dtype)
            counts[key] = {"source": source, "langs": [], "documents": 0, "tokens": 0}
        if lang not in counts[key]["langs"]:
            counts[key]["langs"].append(lang)
        batch.append((key, text))
        if len(batch) >= settings.batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    for key, builder in builders.items():
        builder.finalize(str(tmp / f"{key}.idx"))
    (tmp / "counts.json").write_text(json.dumps(counts))
    os.rename(tmp, tmp.with_name(shard.shard_id))  # the commit point
    return {"shard_id": shard.shard_id, "bytes": shard.end - shard.start}


def _merge(out: Path, shard_ids: list[str], settings: TokenizeSettings) -> list[PreparedPrefix]:
    """Merge committed shards into one prefix per key with IndexedDatasetBuilder.add_index."""
    from megatron.core.datasets.indexed_dataset import IndexedDataset, IndexedDatasetBuilder

    gc.freeze()  # add_index calls gc.collect() per shard: ~0.25 s each with torch loaded, unless the heap is frozen

    per_key: dict[str, dict] = {}
    for sid in shard_ids:
        for key, c in json.loads((out / "shards" / sid / "counts.json").read_text()).items():
            agg = per_key.setdefault(
                key, {"source": c["source"], "langs": [], "documents": 0, "tokens": 0, "shards": []}
            )
            agg["langs"] += [lang for lang in c["langs"] if lang not in agg["langs"]]
            agg["documents"] += c["documents"]
            agg["tokens"] += c["tokens"]
            agg["shards"].append(sid)
    prefixes = []
    for key in sorted(per_key):
        agg = per_key[key]
        first = out / "shards" / agg["shards"][0] / key
        dtype = IndexedDataset(str(first)).index.dtype
        builder = IndexedDatasetBuilder(str(out / f"{key}.tmp.bin"), dtype=dtype)
        for sid in agg["shards"]:
            builder.add_index(str(out / "shards" / sid / key))
        builder.finalize(str(out / f"{key}.tmp.idx"))
        os.replace(out / f"{key}.tmp.bin", out / f"{key}.bin")
        os.replace(out / f"{key}.tmp.idx", out / f"{key}.idx")
        lang = agg["langs"][0] if len(agg["langs"]) == 1 else "mixed"
        prefixes.append(PreparedPrefix(key, key, agg["source"], lang, agg["documents"], agg["tokens"]))
    return prefixes


def run(settings: TokenizeSettings, input_paths: list[str], output_dir: str) -> TokenizeSummary:
    """Tokenise `input_paths` (JSONL) into `output_dir`; resumes a killed run in the same output_dir."""
    began = time.perf_counter()
    shard_ids, skipped = tokenize_shards(settings, input_paths, output_dir)
    return merge(settings, shard_ids, output_dir, skipped, began)


def tokenize_shards(settings: TokenizeSettings, input_paths: list[str], output_dir: str) -> tuple[list[str], int]:
    """Phase 1: tokenise and commit every shard of `input_paths` not committed yet.

    Returns the shard ids in input order and how many were committed before (by a killed run). Array tasks each
    run this on their own inputs into one output_dir; shard ids are unique across inputs, so they never collide."""
    if not settings.tokenizer:
        raise ValueError("TokenizeSettings.tokenizer is empty; set it to the Gemma 3 tokenizer directory or hub id")
    if settings.group_by not in GROUP_BY:
        raise ValueError(f"TokenizeSettings.group_by={settings.group_by!r}; use one of {GROUP_BY}")
    if settings.workers < 1 or settings.shard_bytes < 1 or settings.batch_size < 1:
        raise ValueError("TokenizeSettings.workers, shard_bytes and batch_size must all be >= 1")
    if not input_paths:
        raise ValueError("no input paths given; pass JSONL files")
    with warnings.catch_warnings():  # megatron-core warns that Transformer Engine / Apex are absent: irrelevant here
        warnings.simplefilter("ignore")
        import megatron.core.datasets.indexed_dataset  # noqa: F401  (imported once here: forked workers inherit it)

    out = Path(output_dir)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    shards = plan_shards([str(p) for p in input_paths], settings.shard_bytes, settings_key(settings))
    done = {s.shard_id for s in shards if (out / "shards" / s.shard_id).is_dir()}
    todo = [s for s in shards if s.shard_id not in done]
    with Progress(TextColumn("tokenise"), BarColumn(), TransferSpeedColumn(), TimeRemainingColumn()) as progress:
        task = progress.add_task("tokenise", total=sum(s.end - s.start for s in todo))
        if todo:
            for result in _pool_results(settings, [(s, str(out)) for s in todo]):
                progress.advance(task, result["bytes"])
    return [s.shard_id for s in shards], len(done)


def looks_like_path(name_or_dir: str) -> bool:
    """A local directory rather than a hub id ("org/name"): one that exists here even if shaped like a hub id."""
    return os.path.exists(name_or_dir) or is_local_path(name_or_dir)


def tokenizer_problem(name_or_dir: str) -> str | None:
    """Why the tokenizer does not load here, or None when it does."""
    if looks_like_path(name_or_dir) and not os.path.isdir(name_or_dir):
        return "no such directory"
    try:
        load_fast_tokenizer(name_or_dir)
    except Exception as err:  # transformers raises OSError, ValueError or HFValidationError depending on the input
        return f"{type(err).__name__}: {str(err).strip().splitlines()[0]}"
    return None


def check_tokenizer(name_or_dir: str) -> None:
    """Load the tokenizer once here, so a wrong `tokenizer` stops the run with one line instead of failing in
    every worker."""
    problem = tokenizer_problem(name_or_dir)
    if problem:
        raise ValueError(
            f"tokenizer {name_or_dir!r} does not load ({problem}); set data.tokenizer (--tokenizer) to "
            "a directory holding tokenizer.json or a hub id reachable from here"
        )


def _pool_results(settings: TokenizeSettings, jobs: list[tuple[_Shard, str]]):
    """Each job's result as it completes. A worker that fails to start or dies (SIGKILL by the OOM killer) breaks
    the executor, which raises at once: `multiprocessing.Pool` restarts a failing initializer for ever and waits
    for ever on a killed worker's task. Committed shards stay, so a rerun resumes."""
    check_tokenizer(settings.tokenizer)
    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with ProcessPoolExecutor(
        min(settings.workers, len(jobs)), mp_context=ctx, initializer=_init_worker, initargs=(settings,)
    ) as pool:
        futures = [pool.submit(_work, job) for job in jobs]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BrokenProcessPool:
            raise RuntimeError(
                "a tokenizer worker died (killed by a signal: out of memory? see dmesg) or could not start; "
                f"committed shards are kept: rerun to resume, with fewer workers (now {settings.workers}) or "
                "smaller shard_bytes if memory ran out"
            ) from None
        finally:  # on any failure, the shards not started yet are dropped instead of run to the end
            pool.shutdown(cancel_futures=True)


def merge(
    settings: TokenizeSettings,
    shard_ids: list[str],
    output_dir: str,
    shards_skipped: int = 0,
    began: float | None = None,
) -> TokenizeSummary:
    """Phase 2: the committed shards, in the given order, merged into one prefix per key, and tokens.json."""
    began = time.perf_counter() if began is None else began
    out = Path(output_dir)
    missing = [sid for sid in shard_ids if not (out / "shards" / sid).is_dir()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} shards are not committed (first: {missing[0]}); tokenise them first")
    prefixes = _merge(out, shard_ids, settings)
    tokens_json = out / "tokens.json"
    payload = {
        "tokenizer": settings.tokenizer,
        "settings_key": settings_key(settings),
        "append_eos": settings.append_eos,
        "add_bos": settings.add_bos,
        "group_by": settings.group_by,
        "shards": len(shard_ids),
        "shards_skipped": shards_skipped,
        "prefixes": [asdict(p) for p in prefixes],
    }
    write_text_atomic(tokens_json, json.dumps(payload, indent=2))
    return TokenizeSummary(
        str(out),
        str(tokens_json),
        prefixes,
        len(shard_ids),
        shards_skipped,
        sum(p.documents for p in prefixes),
        sum(p.tokens for p in prefixes),
        time.perf_counter() - began,
    )


def _work(args: tuple[_Shard, str]) -> dict:
    if _worker.get("stopping"):  # queued before the stop: left for the rerun, which resumes from the committed ones
        return {"shard_id": args[0].shard_id, "bytes": 0, "dropped": _worker["stopping"]}
    return _tokenize_shard(*args)


def main(argv: list[str] | None = None) -> int:
    defaults = TokenizeSettings()
    parser = argparse.ArgumentParser(
        prog="python -m data_prep.tokenize",
        description="Tokenise JSONL documents into Megatron .bin/.idx datasets (resumable).",
    )
    parser.add_argument("inputs", nargs="+", help="JSONL files: one {'id','text','lang','source'} object per line")
    parser.add_argument("--output-dir", required=True, help="where prefixes, shards/ and tokens.json go")
    parser.add_argument("--tokenizer", required=True, help="Hugging Face tokenizer directory or hub id")
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--shard-bytes", type=int, default=defaults.shard_bytes)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--group-by", choices=GROUP_BY, default=defaults.group_by)
    parser.add_argument("--add-bos", action="store_true", help="prepend <bos> to every document (default: no)")
    parser.add_argument("--no-eos", action="store_true", help="do not append <eos> to documents")
    args = parser.parse_args(argv)
    settings = TokenizeSettings(
        tokenizer=args.tokenizer,
        workers=args.workers,
        shard_bytes=args.shard_bytes,
        batch_size=args.batch_size,
        group_by=args.group_by,
        append_eos=not args.no_eos,
        add_bos=args.add_bos,
    )
    summary = run(settings, args.inputs, args.output_dir)
    print(
        f"{summary.documents:,} documents, {summary.tokens:,} tokens in {len(summary.prefixes)} prefixes "
        f"({summary.shards} shards, {summary.shards_skipped} already done) in {summary.seconds:.1f}s "
        f"-> {summary.tokens_json}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
