"""Release variants of the real Gemma 3 270M, scored on real held-out SEA-language texts (Global MMLU Lite)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from recipes.artifacts.release_variants import ReleaseSettings, run
from recipes.artifacts.versions import Registry

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
    settings = ReleaseSettings(
        variants=["hf_bf16", "fp8_dynamic", "nvfp4"],
        name="rel",
        quality_texts=[str(quality_texts)],
        max_tokens_per_doc=48,
    )
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


def test_gguf_q8_0_round_trip_in_llama_cpp_and_q4_k_m_rendered(
    registered_source, quality_texts, gemma3_dir, tmp_path, monkeypatch
):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from recipes.artifacts.release_variants import SAMPLE_PROMPT, gguf_greedy, llama_cpp_server

    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no llama-quantize: Q4_K_M is rendered
    reg, source = registered_source
    settings = ReleaseSettings(
        variants=["hf_bf16", "gguf_q8_0", "gguf_q4_k_m"],
        name="rel",
        quality_texts=[str(quality_texts)],
        max_tokens_per_doc=48,
    )
    results = {r.variant: r for r in run(settings, source.id, tmp_path / "release", reg)}
    q8 = results["gguf_q8_0"]
    gguf_file = Path(q8.path) / "model-Q8_0.gguf"
    bf16_bytes = sum(f.stat().st_size for f in (tmp_path / "release" / "hf_bf16").glob("*.safetensors"))
    assert 0.4 * bf16_bytes < gguf_file.stat().st_size < 0.7 * bf16_bytes
    # llama.cpp loads the file and its greedy next token is the BF16 model's argmax in transformers
    tokenizer = AutoTokenizer.from_pretrained(gemma3_dir)
    prompt = tokenizer(SAMPLE_PROMPT)["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(gemma3_dir, dtype=torch.bfloat16).eval()
    with torch.no_grad():
        expected = int(model(input_ids=torch.tensor([prompt])).logits[0, -1].argmax())
    assert gguf_greedy(llama_cpp_server(gguf_file, 64, 2), prompt, 1) == [expected]
    assert q8.sample.strip() and q8.sample.startswith(tokenizer.decode([expected]))
    # Q8_0 stays close to BF16 on every language (llama.cpp's own log-probs); the ratio is in the version record
    assert set(q8.perplexity) == {"id", "vi", "tl"}
    assert all(0.95 < r < 1.05 for r in q8.perplexity_ratio_vs_bf16.values()), q8.perplexity_ratio_vs_bf16
    assert any(r != 1.0 for r in q8.perplexity_ratio_vs_bf16.values())  # scored by the GGUF, not the BF16 model
    record = reg.get(q8.version_id)
    assert record.payload_kind == "gguf" and record.manifest["sample"] == q8.sample
    assert record.metrics["release_perplexity"]["scores"]["ratio_vs_bf16"] == pytest.approx(q8.perplexity_ratio_vs_bf16)
    q4 = results["gguf_q4_k_m"]
    script = (Path(q4.path) / "quantize_q4_k_m.sh").read_text()
    assert q4.status == "rendered" and not q4.perplexity
    assert f"llama-quantize {Path(q4.path) / 'model-bf16.gguf'} {Path(q4.path) / 'model-Q4_K_M.gguf'} Q4_K_M" in script
