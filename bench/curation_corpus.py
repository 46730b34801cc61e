"""A seeded multilingual corpus with injected duplicates, and the truth to score a deduplicator against.

Base documents are per-language first-order Markov walks over the sample corpus's units (Thai words by
pythainlp, grapheme clusters for Khmer, Lao, Burmese, Chinese), 60-300 units, with numbers at 15% of units so that
walks over about a hundred words per language do not overlap by themselves. Copies of earlier documents are then
injected: exact, case/space (upper-cased, spacing and punctuation changed: the same normalised text), and near
(1, 3, 5, 10 or 20% of units replaced or deleted). Copies go into a random file, most of them not their
original's. Each document's family is its original's id; a deduplicator is right to remove a document only in
favour of one of its own family.

    python -m bench.curation_corpus OUT_DIR --documents 20000 --files 16
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from data_prep.segment import units
from recipes.core.languages import CODE, language_spec

SAMPLE = Path(__file__).resolve().parents[1] / "data_prep" / "sample_corpus"
NUMBER_RATE = 0.15
EDIT_FRACTIONS = (0.01, 0.03, 0.05, 0.10, 0.20)
TRUTH = "truth.json"


@dataclass
class CorpusSpec:
    documents: int = 20_000
    files: int = 16
    copy_fraction: float = 0.15  # share of documents that are injected copies
    exact_share: float = 0.15  # of the copies; as many case/space copies, the rest near copies
    seed: int = 0


@dataclass
class Truth:
    family: dict[str, str] = field(default_factory=dict)  # document id -> its original's id
    kind: dict[str, str] = field(default_factory=dict)  # copy id -> exact | case_space | near_0.05 ...
    file: dict[str, int] = field(default_factory=dict)  # document id -> file number

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"family": self.family, "kind": self.kind, "file": self.file}), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Truth:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def sample_chains() -> dict[str, tuple[list[str], dict[str, list[str]]]]:
    """Per language: (all units, unit -> the units that follow it in the bundled sample corpus)."""
    chains = {}
    for path in sorted(SAMPLE.glob("*.jsonl")):
        docs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        lang = docs[0]["lang"]
        if lang == CODE:
            continue
        following: dict[str, list[str]] = defaultdict(list)
        vocabulary: list[str] = []
        for doc in docs:
            seq = units(doc["text"], lang)
            vocabulary += seq
            for a, b in zip(seq, seq[1:]):
                following[a].append(b)
        chains[lang] = (vocabulary, dict(following))
    return chains


def _walk(rng: random.Random, vocabulary: list[str], following: dict[str, list[str]], length: int) -> list[str]:
    out = [rng.choice(vocabulary)]
    while len(out) < length:
        if rng.random() < NUMBER_RATE:
            out.append(str(rng.choice((rng.randint(2, 99_999), rng.randint(1950, 2026), f"{rng.randint(1, 99)}%"))))
        successors = following.get(out[-1])
        out.append(rng.choice(successors) if successors else rng.choice(vocabulary))
    return out


def _join(seq: list[str], lang: str) -> str:
    return (" " if language_spec(lang).spaced else "").join(seq)


def _case_space(text: str, rng: random.Random) -> str:
    """The same normalised text: upper case, doubled spaces, a punctuation mark added."""
    return text.upper().replace(" ", "  ") + rng.choice((" !", " ...", " ?"))


def generate(out_dir: Path, spec: CorpusSpec) -> Truth:
    """Write `spec.files` JSONL files (id, text, lang, source) into `out_dir`, and truth.json beside them."""
    rng = random.Random(spec.seed)
    chains = sample_chains()
    langs = sorted(chains)
    truth = Truth()
    base: list[tuple[str, list[str], str]] = []
    files: list[list[dict]] = [[] for _ in range(spec.files)]
    for i in range(spec.documents):
        if base and rng.random() < spec.copy_fraction:
            original, seq, lang = rng.choice(base)
            roll = rng.random()
            if roll < spec.exact_share:
                kind, text = "exact", _join(seq, lang)
            elif roll < 2 * spec.exact_share:
                kind, text = "case_space", _case_space(_join(seq, lang), rng)
            else:
                edit = rng.choice(EDIT_FRACTIONS)
                seq = list(seq)
                for _ in range(max(1, round(edit * len(seq)))):
                    position = rng.randrange(len(seq))
                    if rng.random() < 0.5:
                        seq[position] = rng.choice(chains[lang][0])
                    else:
                        del seq[position]
                kind, text = f"near_{edit:.2f}", _join(seq, lang)
            doc_id = f"copy-{i}"
            truth.family[doc_id], truth.kind[doc_id] = original, kind
        else:
            lang = rng.choice(langs)
            seq = _walk(rng, *chains[lang], rng.randint(60, 300))
            doc_id = f"base-{i}"
            base.append((doc_id, seq, lang))
            truth.family[doc_id] = doc_id
            text = _join(seq, lang)
        number = rng.randrange(spec.files)
        truth.file[doc_id] = number
        files[number].append({"id": doc_id, "text": text, "lang": lang, "source": "bench"})
    out_dir.mkdir(parents=True, exist_ok=True)
    for number, docs in enumerate(files):
        (out_dir / f"part-{number:03d}.jsonl").write_text(
            "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8"
        )
    truth.save(out_dir / TRUTH)
    return truth


@dataclass
class Score:
    copies: int  # documents that should go: every candidate of a family but one
    removed: int
    correct: int  # removed in favour of a document of its own family
    cross_file: int  # correct removals whose kept document is in another file
    recall_by_kind: dict[str, float]

    @property
    def recall(self) -> float:
        return self.correct / self.copies if self.copies else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.removed if self.removed else 1.0

    def as_dict(self) -> dict:
        return {
            "copies": self.copies,
            "removed": self.removed,
            "correct": self.correct,
            "recall": round(self.recall, 4),
            "precision": round(self.precision, 4),
            "cross_file_found": self.cross_file,
            "recall_by_kind": self.recall_by_kind,
        }


def score(truth: Truth, candidates: set[str], kept_for: dict[str, str]) -> Score:
    """`candidates`: the ids that reached dedup; `kept_for`: removed id -> the kept id it was removed for."""
    families: dict[str, list[str]] = defaultdict(list)
    for doc_id in candidates:
        families[truth.family[doc_id]].append(doc_id)
    copies = sum(len(members) - 1 for members in families.values())
    correct = {d for d, k in kept_for.items() if truth.family[d] == truth.family.get(k)}
    cross = sum(truth.file[d] != truth.file[kept_for[d]] for d in correct)
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for doc_id in candidates:
        if doc_id in truth.kind and truth.family[doc_id] in candidates:
            by_kind[truth.kind[doc_id]][1] += 1
            by_kind[truth.kind[doc_id]][0] += doc_id in correct or kept_for.get(truth.family[doc_id]) == doc_id
    return Score(
        copies,
        len(kept_for),
        len(correct),
        cross,
        {k: round(found / total, 4) for k, (found, total) in sorted(by_kind.items())},
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir", type=Path)
    p.add_argument("--documents", type=int, default=CorpusSpec.documents)
    p.add_argument("--files", type=int, default=CorpusSpec.files)
    p.add_argument("--seed", type=int, default=CorpusSpec.seed)
    args = p.parse_args(argv)
    truth = generate(args.out_dir, CorpusSpec(documents=args.documents, files=args.files, seed=args.seed))
    print(f"{len(truth.family)} documents, {len(truth.kind)} copies, into {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
