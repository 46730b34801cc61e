"""Global dedup (data_prep.global_dedup): the decisions of one process reading every input in order, however the
inputs are split into shards, so the split loses no duplicate. Scored against a generated corpus whose injected
copies (exact, case/space, near with 1-20% of units edited) are known, many of them in another file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHashLSH

from bench.curation_corpus import CorpusSpec, generate, score
from data_prep import curate, global_dedup
from data_prep.curation_output import CANDIDATES, REJECTED, SUMMARY, CurationSummary, finish
from data_prep.dedup import Deduplicator, DedupSettings
from data_prep.documents import Document
from data_prep.quality import QualitySettings

SETTINGS = curate.CurationSettings(quality=QualitySettings(min_words=10))
FILES = 8


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    truth = generate(root, CorpusSpec(documents=500, files=FILES, seed=11))
    return root, truth, sorted(str(p) for p in root.glob("part-*.jsonl"))


def _screen_split(files: list[str], tasks: int, out: Path) -> list[Path]:
    """What the data_prep array does: task t screens every tasks-th file, with the files' places in the run."""
    shards = []
    for t in range(tasks):
        shard = out / f"task-{t:04d}"
        curate.screen(
            files[t::tasks], shard, SETTINGS, positions=list(range(len(files)))[t::tasks], show_progress=False
        )
        shards.append(shard)
    return shards


def _candidate_ids(shard: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (shard / CANDIDATES).read_text(encoding="utf-8").splitlines()]


def _removed_for(shards: list[Path], removals) -> dict[str, tuple[str, str]]:
    ids = {shard.name: _candidate_ids(shard) for shard in shards}
    return {
        ids[name][r.index]: (r.rejection.rule, r.rejection.duplicate_of) for name, rs in removals.items() for r in rs
    }


def test_one_two_and_eight_tasks_remove_the_same_documents(corpus, tmp_path):
    _, truth, files = corpus
    results = {}
    for tasks in (1, 2, 8):
        shards = _screen_split(files, tasks, tmp_path / f"tasks-{tasks}")
        removed = _removed_for(shards, global_dedup.deduplicate(shards, SETTINGS.dedup, tmp_path / f"d{tasks}"))
        candidates = {i for shard in shards for i in _candidate_ids(shard)}
        results[tasks] = (removed, score(truth, candidates, {d: k for d, (_, k) in removed.items()}))
    assert results[1][0] == results[2][0] == results[8][0]  # the same documents, rules and kept documents
    one = results[1][1]
    assert one.recall == results[8][1].recall and one.cross_file == results[8][1].cross_file
    # Normalised copies are all found, and most removals keep a document in another file (the copies were
    # scattered): what a per-shard dedup cannot see.
    assert one.recall_by_kind["exact"] == one.recall_by_kind["case_space"] == 1.0
    assert one.recall_by_kind["near_0.01"] >= 0.8 and one.cross_file > one.correct / 2
    per_shard = 0  # the per-task dedup the array ran before: one Deduplicator per task's files
    for shard in _screen_split(files, 8, tmp_path / "per-shard"):
        dedup = Deduplicator(SETTINGS.dedup)
        lines = (shard / CANDIDATES).read_text(encoding="utf-8").splitlines()
        per_shard += sum(dedup.check(Document(**json.loads(line))) is not None for line in lines)
    assert per_shard < len(results[8][0]) / 2


def test_the_order_is_the_inputs_not_the_shards(corpus, tmp_path):
    _, _, files = corpus
    shards = _screen_split(files, 4, tmp_path)
    forward = _removed_for(shards, global_dedup.deduplicate(shards, SETTINGS.dedup, tmp_path / "a"))
    backward = _removed_for(shards, global_dedup.deduplicate(shards[::-1], SETTINGS.dedup, tmp_path / "b"))
    assert forward == backward and forward
    # and the first copy in input order is the one kept: every kept document comes earlier than its copy
    place = {
        i: (n, k)
        for n, f in enumerate(files)
        for k, line in enumerate(Path(f).read_text().splitlines())
        for i in [json.loads(line)["id"]]
    }
    assert all(place[kept] < place[doc] for doc, (_, kept) in forward.items())


def test_shared_documents_are_exactly_datasketchs_lsh_candidates():
    rng = np.random.default_rng(0)
    settings = DedupSettings(num_perm=64, threshold=0.5)
    values = rng.integers(0, 2**32, size=(300, 64), dtype=np.uint32)
    values[100:150] = values[:50]  # whole copies
    bands, rows = global_dedup.lsh_bands(settings)
    values[150:200, :rows] = values[50:100, :rows]  # one band shared, nothing else
    values[200:250, 1] = values[50:100, 1]  # one value shared: no band
    exact = np.frombuffer(rng.bytes(16 * 300), dtype="V16").copy()
    shared = global_dedup.shared_documents(exact, values, settings)
    lsh = MinHashLSH(threshold=settings.threshold, num_perm=settings.num_perm)
    signatures = [LeanMinHash(seed=1, hashvalues=v, scheme="affine32") for v in values]
    for i, s in enumerate(signatures):
        lsh.insert(i, s)
    expected = [len(lsh.query(s)) > 1 for s in signatures]
    assert shared.tolist() == expected and sum(expected) == 200
    exact[299] = exact[0]  # an exact key alone makes two documents shared
    assert global_dedup.shared_documents(exact, values, settings)[[0, 299]].tolist() == [True, True]
    no_exact = global_dedup.shared_documents(exact, values, DedupSettings(num_perm=64, threshold=0.5, exact=False))
    assert not no_exact[299]


def test_filtering_again_writes_the_same_files_and_the_counts_add_up(corpus, tmp_path):
    _, _, files = corpus
    (shard,) = _screen_split(files[:3], 1, tmp_path)
    candidates = (shard / CANDIDATES).read_text(encoding="utf-8")
    removals = {
        r.index: r.rejection for r in global_dedup.deduplicate([shard], SETTINGS.dedup, tmp_path / "dedup")[shard.name]
    }
    first = finish(shard, removals)
    rejected = (shard / REJECTED).read_text(encoding="utf-8")
    (shard / CANDIDATES).write_text(candidates, encoding="utf-8")  # a requeued filter step starts again
    again = finish(shard, removals)
    assert (shard / REJECTED).read_text(encoding="utf-8") == rejected
    assert again == first and first.balanced() and first.rejected_by_stage["dedup"]
    assert CurationSummary(**json.loads((shard / SUMMARY).read_text())) == first
    assert not (shard / CANDIDATES).exists()
    assert finish(shard, removals) == first  # finished: a requeue that comes after the last step changes nothing
    kept = sum(len(p.read_text().splitlines()) for p in (shard / "curated").glob("*.jsonl"))
    assert kept == first.kept == len(candidates.splitlines()) - len(removals)
