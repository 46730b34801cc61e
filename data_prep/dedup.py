"""Exact and near-duplicate removal; the first document seen is kept, later copies name the one they repeat.

- Exact: a hash of the normalised text (NFC, casefolded, punctuation and symbols dropped, whitespace collapsed),
  so copies that differ only in case, punctuation or spacing are caught without MinHash's error.
- Near: MinHash over shingles, indexed in datasketch's MinHashLSH. Character n-grams by default: they need no
  word segmentation (Thai, Khmer, Lao, Burmese and Chinese have no spaces) and stay similar when a few words
  change in a short document, where word 5-grams lose most of their overlap. "word" shingles use
  `data_prep.segment`'s script-aware units, the usual choice for long web pages.
- LSH candidates are confirmed by their estimated Jaccard similarity before a document is called a duplicate,
  so LSH's false positives remove nothing. Only kept documents enter the index: a chain of small edits is
  compared against what survives, never against something already removed.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np
import regex
import xxhash
from datasketch import LeanMinHash, MinHash, MinHashLSH

from data_prep.documents import Document, Rejection
from data_prep.segment import units

STAGE = "dedup"
SHINGLES = ("char", "word")
_NOT_WORD = regex.compile(r"[\p{P}\p{S}\s]+")


@dataclass
class DedupSettings:
    exact: bool = True
    near: bool = True
    threshold: float = 0.7  # Jaccard similarity of shingle sets at which a document is a near-duplicate
    num_perm: int = 128
    shingle: str = "char"  # "char" or "word"
    ngram: int = 5  # characters per shingle for "char", words for "word"
    seed: int = 1

    def __post_init__(self) -> None:
        if self.shingle not in SHINGLES:
            raise ValueError(f"DedupSettings.shingle is {self.shingle!r}; use one of {SHINGLES}")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"DedupSettings.threshold is {self.threshold}; it must be in (0, 1]")


def normalised_words(text: str) -> list[str]:
    return [w for w in _NOT_WORD.split(text.casefold()) if w]


def shingles(text: str, lang: str, shingle: str, ngram: int, words: list[str] | None = None) -> set[bytes]:
    """`words`: `normalised_words(text)` when the caller has it already."""
    if shingle == "char":
        seq = " ".join(normalised_words(text) if words is None else words)
        grams = {seq[i : i + ngram] for i in range(max(1, len(seq) - ngram + 1))}
    else:
        words = [w.casefold() for w in units(text, lang) if _NOT_WORD.sub("", w)]
        grams = {" ".join(words[i : i + ngram]) for i in range(max(1, len(words) - ngram + 1))}
    return {g.encode("utf-8") for g in grams}


def exact_key(words: list[str]) -> bytes:
    """What the exact rule compares: a hash of the normalised words."""
    return hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=16).digest()


def minhash_values(doc: Document, settings: DedupSettings, words: list[str] | None = None) -> np.ndarray:
    """The document's MinHash values (uint32 x num_perm): datasketch's, seeded, over xxh32 shingle hashes."""
    signature = _template(settings.num_perm, settings.seed).copy()
    signature.update_batch(list(shingles(doc.text, doc.lang, settings.shingle, settings.ngram, words)))
    return signature.hashvalues


@functools.lru_cache(maxsize=4)
def _template(num_perm: int, seed: int) -> MinHash:
    """Permutations built once per setting, copied per document."""
    return MinHash(num_perm=num_perm, seed=seed, hashfunc=xxhash.xxh32_intdigest)


class Deduplicator:
    """Stateful over one run: call `check` (or `check_signature`, with what `data_prep.global_dedup` stored) on
    documents in input order."""

    def __init__(self, settings: DedupSettings):
        self.settings = settings
        self._exact: dict[bytes, str] = {}
        try:
            self._lsh = MinHashLSH(threshold=settings.threshold, num_perm=settings.num_perm)
        except ValueError as err:  # e.g. a threshold near 1 leaves fewer than the 2 LSH bands datasketch needs
            raise ValueError(
                f"DedupSettings.threshold={settings.threshold} with num_perm={settings.num_perm}: "
                f"datasketch's MinHashLSH refuses it ({err}); lower the threshold (identical texts "
                f"are the exact rule's)"
            ) from err
        self._signatures: dict[str, np.ndarray] = {}

    def check(self, doc: Document) -> Rejection | None:
        """None if `doc` is new (and now indexed), else a Rejection naming the kept document it duplicates."""
        words = normalised_words(doc.text)
        key = exact_key(words)
        values = minhash_values(doc, self.settings, words) if self.settings.near else None
        return self.check_signature(doc.id, doc.origin, key, values)

    def check_signature(self, doc_id: str, origin: str, key: bytes, values: np.ndarray | None) -> Rejection | None:
        """`check` on a document's exact key and MinHash values (None when near-dedup is off)."""
        if self.settings.exact and key in self._exact:
            first = self._exact[key]
            return Rejection(STAGE, "exact_duplicate", f"same normalised text as {first}", duplicate_of=first)
        if self.settings.near:
            signature = LeanMinHash(
                seed=self.settings.seed,
                hashvalues=values,
                scheme=_template(self.settings.num_perm, self.settings.seed).scheme,
            )
            match = self._best_match(signature)
            if match is not None:
                first, similarity = match
                return Rejection(
                    STAGE,
                    "near_duplicate",
                    f"estimated Jaccard {similarity:.2f} >= {self.settings.threshold} with {first}",
                    duplicate_of=first,
                )
            # LSH keys must be unique; ids usually are, the origin disambiguates when two inputs reuse one
            index_key = doc_id if doc_id not in self._signatures else f"{doc_id}@{origin}"
            self._lsh.insert(index_key, signature)
            self._signatures[index_key] = signature.hashvalues
        if self.settings.exact:
            self._exact[key] = doc_id
        return None

    def _best_match(self, signature: LeanMinHash) -> tuple[str, float] | None:
        """The most similar indexed (kept) document at or above the threshold."""
        best: tuple[str, float] | None = None
        for key in self._lsh.query(signature):
            similarity = float(np.mean(self._signatures[key] == signature.hashvalues))
            if similarity >= self.settings.threshold and (best is None or similarity > best[1]):
                best = (key, similarity)
        return best
