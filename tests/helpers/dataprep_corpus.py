"""Multilingual JSONL corpora written by the tests themselves (contract: id, text, lang, source), and the shards a
data_prep run has committed so far."""

import json
import random
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "data_prep" / "sample_corpus"
SAMPLE_LANGS = ["en", "id", "th", "vi"]

SENTENCES = {
    "en": "The river rose after three days of monsoon rain, and the ferry stopped running.",
    "id": "Sungai meluap setelah tiga hari hujan monsun, dan kapal feri berhenti beroperasi.",
    "th": "แม่น้ำเอ่อล้นหลังฝนมรสุมตกสามวัน และเรือข้ามฟากหยุดให้บริการ",
    "vi": "Con sông dâng cao sau ba ngày mưa gió mùa, và phà ngừng chạy.",
    "zh": "季风雨连下三天后河水上涨，渡轮停止运行。",
    "ta": "மூன்று நாள் பருவமழைக்குப் பிறகு ஆறு பெருகியது, படகு சேவை நின்றது.",
}


def write_corpus(path: Path, n_docs: int, sources=("web", "pile"), seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    docs = []
    for i in range(n_docs):
        lang = rng.choice(sorted(SENTENCES))
        text = " ".join(f"{SENTENCES[lang]} ({i}.{k})" for k in range(rng.randint(1, 6)))
        docs.append({"id": f"d{i}", "text": text, "lang": lang, "source": rng.choice(sources)})
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    return docs


def write_sample_corpus(directory: Path, docs_per_lang: int) -> int:
    """Unique documents (numbered recombinations of the sample sentences), so every one must survive exactly once."""
    directory.mkdir()
    total = 0
    for lang in SAMPLE_LANGS:
        texts = [json.loads(line)["text"] for line in (SAMPLE / f"{lang}.jsonl").read_text().splitlines()]
        with (directory / f"{lang}.jsonl").open("w") as f:
            for i in range(docs_per_lang):
                text = f"{i}. " + " ".join(texts[(i + k) % len(texts)] for k in range(3))
                f.write(
                    json.dumps(
                        {"id": f"{lang}-{i}", "text": text, "lang": lang, "source": "sample_web"}, ensure_ascii=False
                    )
                    + "\n"
                )
                total += 1
    return total


def committed_shards(artifact: Path) -> list[Path]:
    shards = artifact / "shards"
    return [p for p in shards.iterdir() if p.is_dir() and not p.name.endswith(".tmp")] if shards.is_dir() else []
