"""A small multilingual JSONL corpus written by the tests themselves (contract: id, text, lang, source)."""

import json
import random
from pathlib import Path

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
