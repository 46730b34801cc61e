"""Per-language perplexity and mean log-probability per token on held-out JSONL documents ({"text", "lang"}).

Long documents are scored with a strided sliding window (each token is predicted once, with up to `max_length`
tokens of context), the standard recipe for fixed-context causal LMs.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from rich.progress import Progress

from recipes.core.jsonl import jsonl_rows


@dataclass
class PerplexitySettings:
    """`stride` < `max_length` gives each window (max_length - stride) tokens of extra context."""

    max_length: int = 1024
    stride: int = 512
    max_docs_per_language: int | None = None
    dtype: str = "float32"
    device: str = "cpu"
    step: int | None = None


@dataclass(frozen=True)
class Document:
    text: str
    lang: str


def iter_documents(paths: Sequence[str | Path]) -> Iterator[Document]:
    """Documents from JSONL files, in order; every line needs non-empty "text" and "lang"."""
    for path in paths:
        for n, row in jsonl_rows(path):
            if not row.get("text") or not row.get("lang"):
                raise ValueError(f"{path}:{n}: each line needs non-empty 'text' and 'lang' fields")
            yield Document(row["text"], row["lang"])


def read_documents(paths: Sequence[str | Path]) -> list[Document]:
    """Every document of the JSONL files (iter_documents), at least one."""
    docs = list(iter_documents(paths))
    if not docs:
        raise ValueError(f"no documents in {[str(p) for p in paths]}; expected JSONL lines with 'text' and 'lang'")
    return docs


def document_logprob(model, input_ids: list[int], max_length: int, stride: int, device: str) -> tuple[float, int]:
    """(sum of log-probs, number of predicted tokens) for one tokenised document, sliding window of `max_length`."""
    ids = torch.tensor([input_ids], device=device)
    total, counted, previous_end = 0.0, 0, 1  # the first token (<bos>) is never predicted
    for begin in range(0, ids.shape[1], stride):
        end = min(begin + max_length, ids.shape[1])
        window = ids[:, begin:end]
        logprobs = torch.log_softmax(model(input_ids=window).logits[0, :-1].float(), dim=-1)
        targets = window[0, 1:]
        token_lp = logprobs.gather(1, targets[:, None])[:, 0]
        new_from = previous_end - begin - 1  # score only tokens not predicted by an earlier window
        total += float(token_lp[max(new_from, 0) :].sum())
        counted += int(token_lp[max(new_from, 0) :].numel())
        previous_end = end
        if end == ids.shape[1]:
            break
    return total, counted


def run(
    settings: PerplexitySettings,
    model_path: str | Path,
    documents: Sequence[str | Path],
    output_dir: str | Path | None = None,
) -> dict:
    """Score every document; returns {"perplexity": {lang: ppl}, "mean_logprob": {lang: lp/token}, "tokens": ...}
    and writes it to `output_dir`/perplexity.json when given."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if settings.stride < 1 or settings.stride > settings.max_length:
        raise ValueError(f"stride={settings.stride} must be between 1 and max_length={settings.max_length}")
    per_lang: dict[str, list[Document]] = defaultdict(list)
    available: dict[str, int] = defaultdict(int)  # every document of the files, scored or not
    for doc in iter_documents(documents):
        available[doc.lang] += 1
        if settings.max_docs_per_language is None or len(per_lang[doc.lang]) < settings.max_docs_per_language:
            per_lang[doc.lang].append(doc)
    if not per_lang:
        raise ValueError(f"no documents in {[str(p) for p in documents]}; expected JSONL lines with 'text' and 'lang'")
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, settings.dtype))
    model.to(settings.device).eval()
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    with Progress() as progress:
        bar = progress.add_task("perplexity", total=sum(len(v) for v in per_lang.values()))
        for lang, lang_docs in per_lang.items():
            for doc in lang_docs:
                lp, n = document_logprob(
                    model, tokenizer(doc.text)["input_ids"], settings.max_length, settings.stride, settings.device
                )
                sums[lang] += lp
                counts[lang] += n
                progress.advance(bar)
    mean_lp = {lang: sums[lang] / counts[lang] for lang in sums if counts[lang]}
    results = {
        "source": "perplexity",
        "model": str(model_path),
        "settings": asdict(settings),
        "step": settings.step,
        "perplexity": {lang: math.exp(-lp) for lang, lp in mean_lp.items()},
        "mean_logprob": mean_lp,
        "tokens": dict(counts),
        "documents": {lang: len(v) for lang, v in per_lang.items()},
        "documents_available": dict(available),
    }
    if output_dir is not None:
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "perplexity.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    return results
