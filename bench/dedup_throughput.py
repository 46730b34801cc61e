"""Throughput of `data_prep.dedup` (exact hash + MinHash LSH) and its recall of injected near-duplicates.

The corpus is synthetic but made of real text: per language, a first-order Markov chain over the sample corpus's
words (Thai words by pythainlp; grapheme clusters for Khmer, Lao, Burmese, Chinese) walks out documents of
60-300 units, with numbers (counts, prices, years) sprinkled in at 8% of units, so documents read locally like the
source languages and share common phrases, but are not copies of each other (the sample corpus has only about a
hundred words per language; without the numbers most walks would overlap as near-duplicates). Then a fraction of
documents are injected near-duplicates: a copy of an earlier document with a few percent of its units replaced or
deleted. Recall = injected documents removed as duplicates; the base documents removed are reported too (the chain can
repeat itself, so a few are genuine accidental overlaps).

    python bench/dedup_throughput.py                      # 20k documents, about a minute on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

from rich.progress import track

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.curation_corpus import sample_chains  # noqa: E402
from data_prep.dedup import Deduplicator, DedupSettings  # noqa: E402
from data_prep.documents import Document  # noqa: E402
from recipes.core.languages import language_spec  # noqa: E402

RESULT = REPO / "bench" / "results" / "dedup_throughput.json"
NUMBER_RATE = 0.08  # numbers per unit: without them, walks over ~100 words per language overlap too much


def _walk(rng: random.Random, vocabulary: list[str], following: dict[str, list[str]], length: int) -> list[str]:
    out = [rng.choice(vocabulary)]
    while len(out) < length:
        if rng.random() < NUMBER_RATE:
            out.append(_number(rng))
        successors = following.get(out[-1])
        out.append(rng.choice(successors) if successors else rng.choice(vocabulary))
    return out


def _number(rng: random.Random) -> str:
    """A count, price, year or percentage, as real pages are full of them."""
    return rng.choice(
        (
            str(rng.randint(2, 999)),
            f"{rng.randint(1, 99)}.{rng.randint(0, 99):02d}",
            str(rng.randint(1950, 2026)),
            f"{rng.randint(1, 100)}%",
        )
    )


def _join(seq: list[str], lang: str) -> str:
    return (" " if language_spec(lang).spaced else "").join(seq)


def build_corpus(n_docs: int, near_fraction: float, edit_fraction: float, seed: int):
    """Documents in order, and the ids of the injected near-duplicates."""
    rng = random.Random(seed)
    chains = sample_chains()
    langs = sorted(chains)
    docs: list[Document] = []
    base: list[tuple[list[str], str]] = []
    injected: set[str] = set()
    for i in range(n_docs):
        if base and rng.random() < near_fraction:
            seq, lang = rng.choice(base)
            seq = list(seq)
            vocabulary = chains[lang][0]
            for _ in range(max(1, round(edit_fraction * len(seq)))):
                position = rng.randrange(len(seq))
                if rng.random() < 0.5:
                    seq[position] = rng.choice(vocabulary)
                else:
                    del seq[position]
            doc_id = f"near-{i}"
            injected.add(doc_id)
        else:
            lang = rng.choice(langs)
            seq = _walk(rng, *chains[lang], rng.randint(60, 300))
            base.append((seq, lang))
            doc_id = f"base-{i}"
        docs.append(Document(doc_id, _join(seq, lang), lang, "bench", f"bench:{i}"))
    return docs, injected


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--documents", type=int, default=20_000)
    p.add_argument("--near-fraction", type=float, default=0.1, help="share of documents that are injected copies")
    p.add_argument("--edit-fraction", type=float, default=0.05, help="share of units edited in each copy")
    p.add_argument("--threshold", type=float, default=DedupSettings.threshold)
    p.add_argument("--num-perm", type=int, default=DedupSettings.num_perm)
    p.add_argument("--shingle", default=DedupSettings.shingle)
    p.add_argument("--ngram", type=int, default=DedupSettings.ngram)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=str(RESULT))
    args = p.parse_args(argv)

    docs, injected = build_corpus(args.documents, args.near_fraction, args.edit_fraction, args.seed)
    total_bytes = sum(len(d.text.encode("utf-8")) for d in docs)
    settings = DedupSettings(threshold=args.threshold, num_perm=args.num_perm, shingle=args.shingle, ngram=args.ngram)
    deduplicator = Deduplicator(settings)
    removed: dict[str, str] = {}
    start = time.perf_counter()
    cpu_start = time.process_time()
    for doc in track(docs, description="dedup"):
        rejection = deduplicator.check(doc)
        if rejection is not None:
            removed[doc.id] = rejection.rule
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start

    found = injected & removed.keys()
    result = {
        "machine": machine(),
        "settings": vars(settings),
        "corpus": {
            "documents": len(docs),
            "megabytes": round(total_bytes / 1e6, 3),
            "injected_near_duplicates": len(injected),
            "edit_fraction": args.edit_fraction,
            "languages": sorted({d.lang for d in docs}),
            "seed": args.seed,
        },
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "documents_per_second": round(len(docs) / seconds, 1),
        "megabytes_per_second": round(total_bytes / 1e6 / seconds, 3),
        # per CPU second: comparable across runs on a machine shared with other jobs
        "documents_per_cpu_second": round(len(docs) / cpu_seconds, 1),
        "megabytes_per_cpu_second": round(total_bytes / 1e6 / cpu_seconds, 3),
        "recall_injected": round(len(found) / len(injected), 4) if injected else None,
        "injected_removed_as": {
            rule: sum(1 for i in found if removed[i] == rule) for rule in sorted(set(removed.values()))
        },
        "base_documents_removed": len(removed.keys() - injected),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
