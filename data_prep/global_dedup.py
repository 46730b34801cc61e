"""Exact and near-duplicate removal across every shard of a run, in four steps, each resumable on its own files.

  1. signatures (per shard, in parallel): each candidate document's exact key and MinHash values, with its place
     in the global input order (input entry, source file within it, record), into `<shard>/signatures.npz`.
  2. buckets (global): LSH bands over all shards' signatures. A document that shares no band and no exact key
     with any other document is nobody's duplicate and nobody's original; only the rest go on.
  3. clusters (global): the shared documents in global input order through `dedup.Deduplicator` (first kept,
     later copies name the kept one they repeat, candidates confirmed by their estimated Jaccard), into
     `dedup/removed.json` per shard.
  4. filter (per shard, in parallel): `curation_output.finish` writes the survivors and the removals.

The decisions are those of one process reading every input in order, however the inputs are split over shards:
the order is the inputs' order (not the shards'), and a document skipped in step 2 could never have been an LSH
candidate (its band keys are datasketch's, collisions included). Memory in steps 2-3: the signatures of all
documents (4 bytes x num_perm each), and the index of the shared ones only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasketch import MinHashLSH

from data_prep.dedup import Deduplicator, DedupSettings, exact_key, minhash_values, normalised_words
from data_prep.documents import Document, Rejection

SIGNATURES = "signatures.npz"
REMOVED = "removed.json"


@dataclass(frozen=True)
class Removal:
    shard: str
    index: int  # the document's line in the shard's candidates
    rejection: Rejection


class SignatureWriter:
    """Step 1 for one shard: fed each candidate document with its global order key, in shard order."""

    def __init__(self, settings: DedupSettings):
        self.settings = settings
        self._exact: list[bytes] = []
        self._minhash: list[np.ndarray] = []
        self._order: list[tuple[int, int, int]] = []
        self._ids: list[str] = []
        self._origins: list[str] = []

    def add(self, doc: Document, order: tuple[int, int, int]) -> None:
        words = normalised_words(doc.text)
        self._exact.append(exact_key(words))
        if self.settings.near:
            self._minhash.append(minhash_values(doc, self.settings, words))
        self._order.append(order)
        self._ids.append(doc.id)
        self._origins.append(doc.origin)

    def save(self, shard_dir: Path) -> None:
        n, perm = len(self._ids), self.settings.num_perm if self.settings.near else 0
        path = shard_dir / SIGNATURES
        partial = path.with_suffix(".partial.npz")
        np.savez(
            partial,
            exact=np.frombuffer(b"".join(self._exact), dtype="V16").reshape(n),
            minhash=np.array(self._minhash, dtype=np.uint32).reshape(n, perm),
            order=np.array(self._order, dtype=np.int64).reshape(n, 3),
            ids=np.array(self._ids, dtype=str),
            origins=np.array(self._origins, dtype=str),
        )
        partial.replace(path)  # a shard's signatures are whole or absent


def lsh_bands(settings: DedupSettings) -> tuple[int, int]:
    """(bands, rows per band): datasketch MinHashLSH's choice for the threshold, as the Deduplicator uses it."""
    lsh = MinHashLSH(threshold=settings.threshold, num_perm=settings.num_perm)
    return lsh.b, lsh.r


def deduplicate(shard_dirs: list[Path], settings: DedupSettings, dedup_dir: Path) -> dict[str, list[Removal]]:
    """Steps 2 and 3 over every shard: the removals per shard, also written to `dedup_dir/removed.json`."""
    loaded = {d.name: np.load(d / SIGNATURES) for d in shard_dirs}  # shard names are unique in a run
    shards = (
        np.concatenate([np.full(len(s["ids"]), i) for i, s in enumerate(loaded.values())])
        if loaded
        else np.zeros(0, dtype=int)
    )
    local = np.concatenate([np.arange(len(s["ids"])) for s in loaded.values()]) if loaded else shards
    order = np.concatenate([s["order"] for s in loaded.values()]) if loaded else np.zeros((0, 3), dtype=np.int64)
    exact = np.concatenate([s["exact"] for s in loaded.values()]) if loaded else np.zeros(0, dtype="V16")
    minhash = np.concatenate([s["minhash"] for s in loaded.values()]) if loaded else np.zeros((0, 0), np.uint32)
    shared = shared_documents(exact, minhash, settings)
    names = list(loaded)
    ids = {name: s["ids"] for name, s in loaded.items()}
    origins = {name: s["origins"] for name, s in loaded.items()}
    removals: dict[str, list[Removal]] = {name: [] for name in names}
    dedup = Deduplicator(settings)
    candidates = np.flatnonzero(shared)
    for g in candidates[np.lexsort(order[candidates].T[::-1])]:
        name, i = names[shards[g]], int(local[g])
        doc_id, origin = str(ids[name][i]), str(origins[name][i])
        rejection = dedup.check_signature(doc_id, origin, exact[g].tobytes(), minhash[g] if settings.near else None)
        if rejection is not None:
            removals[name].append(Removal(name, i, rejection))
    dedup_dir.mkdir(parents=True, exist_ok=True)
    record = {
        name: [[r.index, r.rejection.rule, r.rejection.detail, r.rejection.duplicate_of] for r in rs]
        for name, rs in removals.items()
    }
    (dedup_dir / f"{REMOVED}.partial").write_text(json.dumps(record), encoding="utf-8")
    (dedup_dir / f"{REMOVED}.partial").replace(dedup_dir / REMOVED)
    return removals


def shared_documents(exact: np.ndarray, minhash: np.ndarray, settings: DedupSettings) -> np.ndarray:
    """Step 2: True for each document that shares its exact key or one LSH band with another document."""
    shared = np.zeros(len(exact), dtype=bool)
    groups = []
    if settings.exact:
        groups.append(exact)
    if settings.near and len(exact):
        bands, rows = lsh_bands(settings)
        # a band's key is its rows' bytes, as datasketch's MinHashLSH hashes them (uint32 values)
        groups += [
            np.ascontiguousarray(minhash[:, b * rows : (b + 1) * rows]).view(f"V{4 * rows}").ravel()
            for b in range(bands)
        ]
    for keys in groups:
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        shared |= counts[inverse.ravel()] > 1
    return shared


def load_removals(dedup_dir: Path, shard: str) -> dict[int, Rejection]:
    """Step 4's input: this shard's removals by candidate line."""
    record = json.loads((dedup_dir / REMOVED).read_text(encoding="utf-8"))
    return {
        index: Rejection("dedup", rule, detail, duplicate_of=first)
        for index, rule, detail, first in record.get(shard, [])
    }
