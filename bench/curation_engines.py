"""Curation engines side by side on one generated corpus: the project's global dedup, the per-task dedup the
data_prep array ran before it, and datatrove 0.10.1's four MinHash stages driven by the project's shingling.

One run: the corpus (`bench/curation_corpus.py`: seeded, 11 languages, exact, case/space and near copies with 1-20%
of units edited, most in another file than their original), the project's screening (clean, language ID,
quality; documents per CPU-second for each step) once per file, then each dedup engine on the screened candidates
split over 1, 2 and 8 tasks as the data_prep array splits files (every n-th file), each in its own process:
CPU-seconds and documents per CPU-second for each step, peak memory (max RSS), and the removals scored against the
injected copies (recall, precision, removals that keep a document in another file). datatrove runs in its own
venv (`.venv-dt`, README "Dependencies"), with the project's character 5-gram shingles as its word tokenizer and
its own text normalisation off, so both engines hash the same shingles.

    python bench/curation_engines.py          # 30k documents, about 25 min on 2 shared cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.curation_corpus import CorpusSpec, Truth, generate, score  # noqa: E402

RESULT = REPO / "bench" / "results" / "curation_engines.json"
TASKS = (1, 2, 8)
ENGINES = ("project", "project_per_task", "datatrove")
SCREENED = "screened"


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not carried over from the parent by exec)."""
    status = Path("/proc/self/status").read_text()
    return round(int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024, 1)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (datatrove's executor starts a manager process)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Steps:
    """CPU-seconds per named step, and documents per CPU-second."""

    def __init__(self):
        self.cpu: dict[str, float] = defaultdict(float)
        self.docs: dict[str, int] = {}

    def time(self, name: str, fn, *args, **kwargs):
        start = _cpu()
        try:
            return fn(*args, **kwargs)
        finally:
            self.cpu[name] += _cpu() - start

    def report(self) -> dict:
        return {
            name: {
                "cpu_s": round(cpu, 3),
                "documents": self.docs.get(name),
                "docs_per_cpu_s": round(self.docs[name] / cpu, 1) if self.docs.get(name) and cpu else None,
            }
            for name, cpu in self.cpu.items()
        }


def _settings():
    from data_prep import curate
    from data_prep.quality import QualitySettings

    # min_words 10: the generated walks are 60-300 units, and unspaced scripts count about one word per 3 units
    return curate.CurationSettings(quality=QualitySettings(min_words=10))


def run_screen(work: Path) -> dict:
    """The project's per-document steps, each file as a shard of its own; candidates stay for the engines."""
    from data_prep import curate

    steps = Steps()
    for name in ("clean_document", "identify", "check_quality"):  # time each step where curate calls it
        original = getattr(curate, name)
        setattr(curate, name, lambda *a, _fn=original, _name=name, **k: steps.time(_name, _fn, *a, **k))
    files = sorted((work / "corpus").glob("part-*.jsonl"))
    settings = _settings()
    settings.dedup.near = False  # signatures are each engine's own step below
    inputs = records = 0
    start = _cpu()
    for number, path in enumerate(files):
        summary = curate.screen(
            [str(path)], work / SCREENED / path.stem, settings, positions=[number], show_progress=False
        )
        inputs += summary.input_records
        records += json.loads((work / SCREENED / path.stem / "screened.json").read_text())["candidates"]
    total = _cpu() - start
    steps.cpu["read_and_write"] = total - sum(steps.cpu.values())
    steps.docs.update(clean_document=inputs, identify=inputs, check_quality=inputs, read_and_write=inputs)
    return {
        "input_documents": inputs,
        "candidates": records,
        "cpu_s": round(total, 3),
        "docs_per_cpu_s": round(inputs / total, 1),
        "steps": steps.report(),
        "peak_rss_mb": _peak_mb(),
    }


def _shard_files(work: Path, tasks: int) -> list[list[Path]]:
    files = sorted((work / SCREENED).iterdir())
    return [files[t::tasks] for t in range(tasks)]


def _candidates(shard_files: list[Path]):
    from data_prep.documents import Document

    for folder in shard_files:
        for line in (folder / "candidates.jsonl").read_text(encoding="utf-8").splitlines():
            yield folder, Document(**json.loads(line))


def run_project(work: Path, tasks: int) -> dict:
    """data_prep.global_dedup's four steps: signatures per shard, buckets and clusters global, filter per shard."""
    import numpy as np

    from data_prep import global_dedup
    from data_prep.curation_output import finish

    settings, steps = _settings().dedup, Steps()
    out = work / f"project-{tasks}"
    shutil.rmtree(out, ignore_errors=True)
    numbers = {folder: n for n, folder in enumerate(sorted((work / SCREENED).iterdir()))}
    shards: list[Path] = []
    ids: dict[str, list[str]] = {}
    for t, files in enumerate(_shard_files(work, tasks)):
        shard = out / f"task-{t:04d}"
        shard.mkdir(parents=True)
        writer = global_dedup.SignatureWriter(settings)
        ids[shard.name] = []
        with open(shard / "candidates.jsonl", "w", encoding="utf-8") as candidates:
            for folder, doc in _candidates(files):
                steps.time("signatures", writer.add, doc, (numbers[folder], 0, int(doc.origin.rpartition(":")[2])))
                ids[shard.name].append(doc.id)
                candidates.write(json.dumps(doc.__dict__, ensure_ascii=False) + "\n")
        steps.time("signatures", writer.save, shard)
        screened = {
            "summary": {"input_records": len(ids[shard.name])},
            "candidates": len(ids[shard.name]),
            "rejected_bytes": 0,
        }
        (shard / "screened.json").write_text(json.dumps(screened))
        (shard / "rejected.jsonl").write_text("")
        shards.append(shard)
    n = sum(len(v) for v in ids.values())
    loaded = [np.load(s / global_dedup.SIGNATURES) for s in shards]
    steps.time(
        "buckets",
        global_dedup.shared_documents,
        np.concatenate([s["exact"] for s in loaded]),
        np.concatenate([s["minhash"] for s in loaded]),
        settings,
    )
    removals = steps.time("clusters", global_dedup.deduplicate, shards, settings, out / "dedup")
    steps.cpu["clusters"] -= steps.cpu["buckets"]  # deduplicate runs the buckets step too
    for shard in shards:
        steps.time("filter", finish, shard, global_dedup.load_removals(out / "dedup", shard.name))
    steps.docs.update(signatures=n, buckets=n, clusters=n, filter=n)
    kept_for = {ids[name][r.index]: r.rejection.duplicate_of for name, rs in removals.items() for r in rs}
    return {"steps": steps.report(), "peak_rss_mb": _peak_mb(), "kept_for": kept_for, "candidates": n}


def run_project_per_task(work: Path, tasks: int) -> dict:
    """The dedup the data_prep array ran before global dedup: one in-memory Deduplicator per task's files."""
    from data_prep.dedup import Deduplicator

    steps, kept_for, n = Steps(), {}, 0
    for files in _shard_files(work, tasks):
        dedup = Deduplicator(_settings().dedup)
        for _, doc in _candidates(files):
            n += 1
            rejection = steps.time("dedup_in_memory", dedup.check, doc)
            if rejection is not None:
                kept_for[doc.id] = rejection.duplicate_of
    steps.docs["dedup_in_memory"] = n
    return {"steps": steps.report(), "peak_rss_mb": _peak_mb(), "kept_for": kept_for, "candidates": n}


def run_datatrove(work: Path, tasks: int) -> dict:
    """datatrove's MinhashDedupSignature/Buckets/Cluster/Filter with the project's shingles, tasks as given."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.text import TextNormConfig
    from datatrove.utils.word_tokenizers import WordTokenizer

    from data_prep.dedup import DedupSettings, shingles

    dedup = DedupSettings()

    class ProjectShingles(WordTokenizer):
        """The project's character 5-grams (normalised words, one space) as datatrove's "words" (n_grams=1)."""

        def word_tokenize(self, text: str) -> list[str]:
            return [s.decode("utf-8") for s in shingles(text, "", dedup.shingle, dedup.ngram)]

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [(0, len(text))]

    out = work / f"datatrove-{tasks}"
    shutil.rmtree(out, ignore_errors=True)
    # 14 bands of 8 as datatrove's default; 32-bit hashes like the project's; its own normalisation off (the
    # project's shingles normalise), so both engines hash the same shingles
    config = MinhashConfig(
        n_grams=1,
        num_buckets=14,
        hashes_per_bucket=8,
        hash_config=HashConfig(precision=32),
        norm_config=TextNormConfig(
            lowercase=False,
            norm_whitespace=False,
            remove_punctuation=False,
            norm_unicode_diacritics=False,
            norm_numbers=False,
        ),
    )

    def reader():
        return JsonlReader(str(work / SCREENED), glob_pattern="*/candidates.jsonl")

    # datatrove takes a WordTokenizer instance in place of a language
    signature = MinhashDedupSignature(output_folder=str(out / "signatures"), config=config, language=ProjectShingles())
    steps = Steps()
    stages = {
        "signatures": LocalPipelineExecutor(
            [reader(), signature], tasks=tasks, workers=1, logging_dir=str(out / "logs" / "signatures")
        ),
        "buckets": LocalPipelineExecutor(
            [MinhashDedupBuckets(str(out / "signatures"), str(out / "buckets"), config=config)],
            tasks=config.num_buckets,
            workers=1,
            logging_dir=str(out / "logs/buckets"),
        ),
        "clusters": LocalPipelineExecutor(
            [MinhashDedupCluster(str(out / "buckets"), str(out / "remove"), config=config, save_cluster_id=True)],
            tasks=1,
            workers=1,
            logging_dir=str(out / "logs" / "clusters"),
        ),
        "filter": LocalPipelineExecutor(
            [
                reader(),
                MinhashDedupFilter(
                    str(out / "remove"), load_cluster_ids=True, exclusion_writer=JsonlWriter(str(out / "removed"))
                ),
                JsonlWriter(str(out / "kept")),
            ],
            tasks=tasks,
            workers=1,
            logging_dir=str(out / "logs" / "filter"),
        ),
    }
    for name, executor in stages.items():
        steps.time(name, executor.run)
    kept_in = {}
    for path in sorted((out / "kept").glob("*.jsonl.gz")):
        for record in _gz_lines(path):
            if record["metadata"].get("minhash_cluster_id", -1) >= 0:
                kept_in[record["metadata"]["minhash_cluster_id"]] = record["id"]
    kept_for = {}
    for path in sorted((out / "removed").glob("*.jsonl.gz")):
        for record in _gz_lines(path):
            kept_for[record["id"]] = kept_in.get(record["metadata"]["minhash_cluster_id"])
    n = sum(1 for _, _ in _candidates(sum(_shard_files(work, 1), [])))
    steps.docs.update(signatures=n, buckets=n, clusters=n, filter=n)
    return {"steps": steps.report(), "peak_rss_mb": _peak_mb(), "kept_for": kept_for, "candidates": n}


def _gz_lines(path: Path):
    import gzip

    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


RUNNERS: dict[str, Callable[..., Any]] = {
    "screen": run_screen,
    "project": run_project,
    "project_per_task": run_project_per_task,
    "datatrove": run_datatrove,
}


def _child(python: str, work: Path, engine: str, tasks: int | None = None) -> dict:
    cmd = [python, __file__, "--child", engine, "--work", str(work)] + (["--tasks", str(tasks)] if tasks else [])
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    if done.returncode != 0:
        raise RuntimeError(f"{engine} tasks={tasks} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _dedup_cpu(result: dict) -> float:
    return sum(step["cpu_s"] for step in result["steps"].values())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--documents", type=int, default=30_000)
    p.add_argument("--files", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=Path("/tmp/curation_engines"))
    p.add_argument("--datatrove-python", default=str(REPO / ".venv-dt" / "bin" / "python"))
    p.add_argument("--output", type=Path, default=RESULT)
    p.add_argument("--child", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    p.add_argument("--tasks", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        result = RUNNERS[args.child](args.work, *([args.tasks] if args.tasks else []))
        print(json.dumps(result, ensure_ascii=False))
        return 0

    began = time.monotonic()
    shutil.rmtree(args.work, ignore_errors=True)
    spec = CorpusSpec(documents=args.documents, files=args.files, seed=args.seed)
    truth = generate(args.work / "corpus", spec)
    screen = _child(sys.executable, args.work, "screen")
    candidates = {doc.id for _, doc in _candidates(sum(_shard_files(args.work, 1), []))}
    engines: dict[str, dict] = {}
    for engine in ENGINES:
        python = args.datatrove_python if engine == "datatrove" else sys.executable
        for tasks in TASKS:
            result = _child(python, args.work, engine, tasks)
            kept_for = result.pop("kept_for")
            result["score"] = score(Truth.load(args.work / "corpus" / "truth.json"), candidates, kept_for).as_dict()
            result["dedup_cpu_s"] = round(_dedup_cpu(result), 3)
            engines.setdefault(engine, {})[str(tasks)] = result
            print(engine, tasks, json.dumps({k: v for k, v in result.items() if k != "steps"}), flush=True)
    ratio = engines["datatrove"]["1"]["dedup_cpu_s"] / engines["project"]["1"]["dedup_cpu_s"]
    result = {
        "machine": machine(),
        "corpus": {
            **spec.__dict__,
            "copies": len(truth.kind),
            "kinds": sorted(set(truth.kind.values())),
            "copies_in_another_file": sum(truth.file[d] != truth.file[truth.family[d]] for d in truth.kind),
            "megabytes": round(sum(p.stat().st_size for p in (args.work / "corpus").glob("*.jsonl")) / 1e6, 2),
        },
        "screen": screen,
        "engines": engines,
        "datatrove_dedup_cpu_vs_project": round(ratio, 2),
        "wall_s": round(time.monotonic() - began, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"datatrove dedup CPU / project dedup CPU (1 task): {ratio:.2f}; written {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
