"""Release variants of the real Gemma 3 270M, scored on real held-out SEA-language texts (Global MMLU Lite)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from recipes.releasing import ReleaseSettings, run
from recipes.versions import Registry

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "seahelm-global-mmlu-lite"


@pytest.fixture()
def quality_texts(tmp_path):
    """Two questions per language from the real SEA-HELM Global MMLU Lite dev sets, as {"text", "lang"} JSONL."""
    out = tmp_path / "heldout.jsonl"
    with out.open("w") as f:
        for lang in ("id", "vi", "tl"):
            rows = (DATA / f"global_mmlu_lite_{lang}_dev.jsonl").read_text().splitlines()[:2]
            for row in rows:
                f.write(json.dumps({"text": json.loads(row)["prompts"][0]["question"], "lang": lang}) + "\n")
    return out


@pytest.fixture()
def registered_source(gemma3_dir, tmp_path):
    """The fixture model registered as a version (linked, so the shared fixture dir gets no version.json)."""
    reg = Registry(tmp_path / "registry")
    src = tmp_path / "sft"
    src.mkdir()
    for f in Path(gemma3_dir).iterdir():
        (src / f.name).symlink_to(f)
    record = reg.register(src, name="sealion-sft", stage="sft", payload_kind="hf")
    return reg, record


def test_bf16_export_with_card_and_rendered_gpu_variants(registered_source, quality_texts, tmp_path):
    reg, source = registered_source
    settings = ReleaseSettings(variants=["hf_bf16", "fp8_dynamic", "nvfp4"], name="rel",
                               quality_texts=[str(quality_texts)], max_tokens_per_doc=48)
    results = {r.variant: r for r in run(settings, source.id, tmp_path / "release", reg)}
    bf16 = results["hf_bf16"]
    assert bf16.status == "built"
    assert "# sealion-sft 0.1.0" in (Path(bf16.path) / "README.md").read_text()
    assert (Path(bf16.path) / "chat_template.jinja").is_file()
    assert set(bf16.perplexity) == {"id", "vi", "tl"}
    assert all(1 < p < 1e4 and math.isfinite(p) for p in bf16.perplexity.values()), bf16.perplexity
    assert bf16.perplexity_ratio_vs_bf16 == {lang: 1.0 for lang in bf16.perplexity}
    # GPU-side variants are rendered here (no CUDA / llm-compressor / ModelOpt)
    fp8 = results["fp8_dynamic"]
    assert fp8.status == "rendered"
    assert 'scheme="FP8_DYNAMIC"' in (Path(fp8.path) / "quantize_fp8_dynamic.py").read_text()
    assert "--qformat nvfp4" in (Path(results["nvfp4"].path) / "quantize_nvfp4.sh").read_text()
    # every variant is a version whose parent is the source, and the BF16 one carries its scores
    record = reg.get(bf16.version_id)
    assert record.parents == [source.id] and record.payload_kind == "hf"
    assert record.metrics["release_perplexity"]["scores"]["perplexity"] == pytest.approx(bf16.perplexity)
    assert reg.get(fp8.version_id).manifest["status"] == "rendered"


def test_unknown_variant_is_refused(registered_source, tmp_path):
    reg, source = registered_source
    with pytest.raises(ValueError, match="variants=\\['gguf_q3'\\]"):
        run(ReleaseSettings(variants=["gguf_q3"]), source.id, tmp_path / "r", reg)


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed")
def test_gguf_q8_0_round_trip(registered_source, quality_texts, tmp_path):
    from llama_cpp import Llama

    reg, source = registered_source
    settings = ReleaseSettings(variants=["hf_bf16", "gguf_q8_0"], name="rel", quality_texts=[str(quality_texts)],
                               max_tokens_per_doc=48)
    results = {r.variant: r for r in run(settings, source.id, tmp_path / "release", reg)}
    q8 = results["gguf_q8_0"]
    gguf_file = Path(q8.path) / "model-Q8_0.gguf"
    assert gguf_file.is_file()
    assert gguf_file.stat().st_size < 0.7 * (tmp_path / "release" / "gguf" / "model-bf16.gguf").stat().st_size
    llm = Llama(model_path=str(gguf_file), n_ctx=128, verbose=False)
    completion = llm("Ibu kota Indonesia adalah", max_tokens=4, temperature=0)
    assert completion["usage"]["completion_tokens"] >= 1
    # Q8_0 stays close to BF16 on every language; the ratio is recorded in the version record
    assert all(0.9 < r < 1.1 for r in q8.perplexity_ratio_vs_bf16.values()), q8.perplexity_ratio_vs_bf16
    scores = reg.get(q8.version_id).metrics["release_perplexity"]["scores"]
    assert scores["ratio_vs_bf16"] == pytest.approx(q8.perplexity_ratio_vs_bf16)
