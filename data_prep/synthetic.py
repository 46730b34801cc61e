"""Synthetic eval sets for low-resource languages (Burmese, Khmer, ...): ask a generator model behind an
OpenAI-compatible endpoint, keep only texts detected in the target language, drop near-duplicates (MinHash LSH), and
write a versioned dataset directory: data.jsonl + metadata.json (settings, counts, content hash)."""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.progress import Progress

from data_prep.dedup import Deduplicator, DedupSettings
from data_prep.documents import Document
from recipes.core.chat_endpoint import EndpointError, complete, open_client
from recipes.core.language_id import detect_language

DEFAULT_PROMPTS = {
    "my": "မြန်မာဘာသာဖြင့် အထွေထွေဗဟုသုတ မေးခွန်းတစ်ခုနှင့် ၎င်း၏အဖြေကို ရေးပါ။ ({i})",
    "km": "សូមសរសេរសំណួរចំណេះដឹងទូទៅមួយ និងចម្លើយរបស់វាជាភាសាខ្មែរ។ ({i})",
}


@dataclass
class SyntheticSettings:
    base_url: str = "http://localhost:8000/v1"
    model: str = "generator"
    api_key_env: str = "OPENAI_API_KEY"
    languages: list[str] = field(default_factory=lambda: ["my", "km"])
    samples_per_language: int = 100
    prompts: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PROMPTS))
    temperature: float = 0.9
    max_tokens: int = 512
    max_retries: int = 5
    backoff_s: float = 1.0
    timeout_s: float = 120.0
    dedup_threshold: float = 0.8
    min_chars: int = 20
    version: str = "v1"


SyntheticGenerationError = EndpointError  # the name callers of this module already catch


def run(settings: SyntheticSettings, output_root: str | Path) -> dict:
    """Generate, filter and write `output_root`/synthetic-<version>; returns the metadata dict."""
    missing = [lang for lang in settings.languages if lang not in settings.prompts]
    if missing:
        raise ValueError(f"no prompt for languages {missing}; add them to settings.prompts (use '{{i}}' for the index)")
    kept: list[dict[str, str]] = []
    rejected = {"language": 0, "duplicate": 0, "too_short": 0}
    # The curation deduplicator: exact copies, then character-shingle MinHash (no word segmentation needed).
    dedup = Deduplicator(DedupSettings(threshold=settings.dedup_threshold))
    with open_client(settings) as client, Progress() as progress:
        bar = progress.add_task("synthetic", total=len(settings.languages) * settings.samples_per_language)
        for lang in settings.languages:
            for i in range(settings.samples_per_language):
                text = complete(client, settings, settings.prompts[lang].format(i=i)).strip()
                progress.advance(bar)
                if len(text) < settings.min_chars:
                    rejected["too_short"] += 1
                    continue
                if detect_language(text) != lang:
                    rejected["language"] += 1
                    continue
                key = f"{lang}-{len(kept)}"
                if dedup.check(Document(id=key, text=text, lang=lang, source="synthetic", origin=f"{lang}:{i}")):
                    rejected["duplicate"] += 1
                    continue
                kept.append({"id": key, "lang": lang, "text": text})
    out = Path(output_root) / f"synthetic-{settings.version}"
    out.mkdir(parents=True, exist_ok=True)
    payload = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in kept)
    (out / "data.jsonl").write_text(payload, encoding="utf-8")
    metadata = {
        "version": settings.version,
        "sha256": hashlib.sha256(payload.encode("utf-8")).hexdigest(),
        "kept": {lang: sum(r["lang"] == lang for r in kept) for lang in settings.languages},
        "rejected": rejected,
        "settings": asdict(settings),
        "created_unix": int(time.time()),
    }
    (out / "metadata.json").write_text(json.dumps(metadata, indent=2, ensure_ascii=False), encoding="utf-8")
    return metadata


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m recipes.synthetic", description=__doc__.split("\n\n")[0])
    parser.add_argument("output_root", help="the dataset is written to OUTPUT_ROOT/synthetic-<version>")
    parser.add_argument("--base-url", default="http://localhost:8000/v1", help="OpenAI-compatible endpoint")
    parser.add_argument("--model", default="generator")
    parser.add_argument("--languages", nargs="+", default=["my", "km"])
    parser.add_argument("--samples-per-language", type=int, default=100)
    parser.add_argument("--version", default="v1")
    args = parser.parse_args(argv)
    settings = SyntheticSettings(
        base_url=args.base_url,
        model=args.model,
        languages=args.languages,
        samples_per_language=args.samples_per_language,
        version=args.version,
    )
    print(json.dumps(run(settings, args.output_root), indent=2, ensure_ascii=False))
