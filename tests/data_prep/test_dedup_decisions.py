"""Near-duplicate decisions with near-duplicate detection on: only kept documents are indexed, and a duplicate names
the most similar kept document.

Documents are built from blocks of 12 distinct made-up words, so the Jaccard similarity of two documents' character
5-gram sets is close to (shared blocks) / (blocks in either): the test checks that design against the exact sets
(`shingles`) first, then the Deduplicator's MinHash decisions (seeded, so deterministic).
"""

from __future__ import annotations

import random

import pytest

from data_prep.dedup import Deduplicator, DedupSettings, normalised_words, shingles
from data_prep.documents import Document

SETTINGS = DedupSettings(threshold=0.4, num_perm=256)
_rng = random.Random(7)
BLOCKS = [
    " ".join("".join(_rng.choice("bcdfghjklmnprstvz") + _rng.choice("aeiou") for _ in range(3)) for _ in range(12))
    for _ in range(10)
]


def _doc(doc_id: str, blocks: list[int]) -> Document:
    return Document(doc_id, ". ".join(BLOCKS[b] for b in blocks) + ".", "en", "web", f"t:{doc_id}")


def _jaccard(a: Document, b: Document) -> float:
    sa, sb = (shingles(d.text, "en", "char", 5, normalised_words(d.text)) for d in (a, b))
    return len(sa & sb) / len(sa | sb)


def test_a_rejected_near_duplicate_is_not_indexed():
    a, b, c = _doc("a", [0, 1, 2]), _doc("b", [0, 1, 3]), _doc("c", [1, 3, 4])
    # By design: J(a, b) = 2/4, J(b, c) = 2/4, J(a, c) = 1/5 (block boundaries add a few shingles of their own).
    assert _jaccard(a, b) == pytest.approx(0.5, abs=0.05) and _jaccard(b, c) == pytest.approx(0.5, abs=0.05)
    assert _jaccard(a, c) == pytest.approx(0.2, abs=0.05)
    dedup = Deduplicator(SETTINGS)
    assert dedup.check(a) is None
    rejected = dedup.check(b)
    assert rejected.rule == "near_duplicate" and rejected.duplicate_of == "a"
    # c repeats half of b, which was removed; against what was kept (a) it is new, so it stays.
    assert dedup.check(c) is None


def test_a_near_duplicate_names_the_most_similar_kept_document():
    a, e, d = _doc("a", [0, 1, 2, 3, 4, 5]), _doc("e", [0, 1, 2, 6, 7, 8]), _doc("d", [0, 1, 2, 3, 4, 8])
    # J(a, e) = 3/9 < 0.4: both kept. d: J(d, a) = 5/7 and J(d, e) = 4/8, both at or above 0.4; a is closer.
    assert _jaccard(a, e) == pytest.approx(3 / 9, abs=0.04)
    assert _jaccard(d, a) == pytest.approx(5 / 7, abs=0.04) and _jaccard(d, e) == pytest.approx(4 / 8, abs=0.04)
    for first, second in ((a, e), (e, a)):  # whichever was indexed first
        dedup = Deduplicator(SETTINGS)
        assert dedup.check(first) is None and dedup.check(second) is None
        rejected = dedup.check(d)
        assert rejected.duplicate_of == "a", (first.id, rejected.detail)
        assert rejected.detail.startswith("estimated Jaccard 0.") and rejected.detail.endswith(">= 0.4 with a")


def test_near_off_or_exact_off_each_leave_the_other_rule_working():
    a, b = _doc("a", [0, 1, 2]), _doc("b", [0, 1, 3])
    copy = Document("copy", a.text.upper().replace(".", " !"), "en", "web", "t:copy")
    exact_only = Deduplicator(DedupSettings(near=False))
    assert exact_only.check(a) is None and exact_only.check(b) is None
    assert exact_only.check(copy).duplicate_of == "a"
    near_only = Deduplicator(DedupSettings(exact=False, threshold=0.4, num_perm=256))
    assert near_only.check(a) is None
    assert near_only.check(b).rule == "near_duplicate"
    # Without the exact rule a normalised copy is still caught, as a near duplicate with similarity 1.
    caught = near_only.check(copy)
    assert caught.rule == "near_duplicate" and "Jaccard 1.00" in caught.detail


def test_reused_ids_from_two_inputs_are_both_indexed():
    first = _doc("x", [5, 6, 7])
    second = Document("x", _doc("x", [8, 9, 4]).text, "en", "web", "other:1")
    dedup = Deduplicator(SETTINGS)
    assert dedup.check(first) is None and dedup.check(second) is None
    # A near copy of the second "x" finds it under its disambiguated key.
    assert dedup.check(_doc("y", [8, 9, 3])).duplicate_of == "x@other:1"


def test_shingles_are_the_overlapping_n_grams_written_out():
    # Characters: normalised "Ab!c d" is "ab c d" (punctuation splits words); 5-grams "ab c ", "b c d".
    assert shingles("Ab!c d", "en", "char", 5) == {b"ab c ", b"b c d"}
    assert shingles("abcdef", "en", "char", 5) == {b"abcde", b"bcdef"}
    assert shingles("abc", "en", "char", 5) == {b"abc"}  # shorter than n: the whole text is one shingle
    # Words: units casefolded, a unit of punctuation alone dropped, joined by one space.
    assert shingles("One - Two three", "en", "word", 2) == {b"one two", b"two three"}
    assert shingles("One two", "en", "word", 5) == {b"one two"}
    assert shingles("a b c d", "en", "word", 1) == {b"a", b"b", b"c", b"d"}


def test_thresholds_outside_zero_to_one_or_beyond_lsh_are_refused_by_name():
    for bad in (0.0, 1.01, 2.0):
        with pytest.raises(ValueError, match=r"DedupSettings.threshold is .*; it must be in \(0, 1\]"):
            DedupSettings(threshold=bad)
    # 1.0 is a valid setting, but datasketch's MinHashLSH needs at least 2 bands, which 128 permutations cannot
    # give above 0.98: the error names the setting before any document is read.
    assert DedupSettings(threshold=1.0).threshold == 1.0
    with pytest.raises(ValueError, match=r"DedupSettings.threshold=1.0 with num_perm=128: .*b < 2"):
        Deduplicator(DedupSettings(threshold=1.0))
    assert Deduplicator(DedupSettings(threshold=0.98)).settings.threshold == 0.98


def test_a_similarity_equal_to_the_threshold_is_a_near_duplicate():
    # With 64 permutations estimates are multiples of 1/64; these two documents estimate exactly 32/64 = 0.5
    # (found by trying block orders; their true Jaccard is about 2/4).
    a, b = _doc("a", [0, 1, 2]), _doc("b", [0, 2, 4])
    dedup = Deduplicator(DedupSettings(threshold=0.5, num_perm=64))
    assert dedup.check(a) is None
    rejected = dedup.check(b)
    assert (rejected.stage, rejected.rule, rejected.duplicate_of) == ("dedup", "near_duplicate", "a")
    assert rejected.detail == "estimated Jaccard 0.50 >= 0.5 with a"
    exact = Deduplicator(DedupSettings())
    exact.check(a)
    copy = exact.check(Document("copy", a.text, "en", "web", "t:copy"))
    assert (copy.stage, copy.rule, copy.detail) == ("dedup", "exact_duplicate", "same normalised text as a")


def test_similarity_is_datasketchs_minhash_estimate_with_the_settings_seed():
    import xxhash
    from datasketch import MinHash

    a, b = _doc("a", [0, 1, 2]), _doc("b", [0, 1, 3])
    for seed in (1, 5):
        settings = DedupSettings(threshold=0.3, num_perm=64, seed=seed)
        signatures = []
        for d in (a, b):
            m = MinHash(num_perm=64, seed=seed, hashfunc=xxhash.xxh32_intdigest)
            m.update_batch(list(shingles(d.text, "en", "char", 5)))
            signatures.append(m)
        dedup = Deduplicator(settings)
        dedup.check(a)
        assert dedup.check(b).detail.startswith(f"estimated Jaccard {signatures[0].jaccard(signatures[1]):.2f} ")
