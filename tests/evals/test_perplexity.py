"""Per-language perplexity on the real Gemma 3 270M with short documents in five languages."""

import json
import math

import pytest
import torch

from evals.perplexity import PerplexitySettings, document_logprob, run

DOCS = [
    {"lang": "id", "text": "Jakarta adalah ibu kota Indonesia dan kota terbesar di negara itu."},
    {"lang": "vi", "text": "Hà Nội là thủ đô của Việt Nam, còn Thành phố Hồ Chí Minh là thành phố lớn nhất."},
    {"lang": "th", "text": "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย"},
    {"lang": "my", "text": "မြန်မာနိုင်ငံ၏ မြို့တော်မှာ နေပြည်တော် ဖြစ်သည်။"},
    {"lang": "en", "text": "The quick brown fox jumps over the lazy dog near the river bank."},
    {"lang": "en", "text": "Rice is the staple food across most of Southeast Asia."},
]


@pytest.fixture(scope="module")
def docs_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ppl") / "heldout.jsonl"
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in DOCS), encoding="utf-8")
    return path


def test_perplexity_per_language(gemma3_dir, gemma3_tokenizer, docs_file, tmp_path):
    torch.set_num_threads(2)
    results = run(PerplexitySettings(max_length=64, stride=32, step=100), gemma3_dir, [docs_file], tmp_path)
    assert set(results["perplexity"]) == {"id", "vi", "th", "my", "en"}
    assert results["documents"]["en"] == 2
    for lang, ppl in results["perplexity"].items():
        assert 1.0 < ppl < 1e6
        assert ppl == pytest.approx(math.exp(-results["mean_logprob"][lang]))
    # every token but <bos> is predicted exactly once
    en_tokens = sum(len(gemma3_tokenizer(d["text"])["input_ids"]) - 1 for d in DOCS if d["lang"] == "en")
    assert results["tokens"]["en"] == en_tokens
    assert json.loads((tmp_path / "perplexity.json").read_text())["step"] == 100


def test_single_window_equals_hf_loss_and_sliding_window_counts_each_token_once(gemma3_dir, gemma3_tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(gemma3_dir, dtype=torch.float32).eval()
    ids = gemma3_tokenizer(DOCS[1]["text"])["input_ids"]
    total, n = document_logprob(model, ids, max_length=512, stride=256, device="cpu")
    with torch.no_grad():
        loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids])).loss
    assert n == len(ids) - 1
    assert -total / n == pytest.approx(float(loss), rel=1e-4)
    windowed_total, windowed_n = document_logprob(model, ids, max_length=8, stride=4, device="cpu")
    assert windowed_n == n
    assert windowed_total < total  # less context -> lower likelihood


def test_bad_input_named(tmp_path, gemma3_dir):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "no language"}) + "\n")
    with pytest.raises(ValueError, match="'lang'"):
        run(PerplexitySettings(), gemma3_dir, [bad])


def test_a_cap_scores_the_first_documents_of_each_language_and_counts_all(gemma3_dir, docs_file):
    """The eval stage's default (eval.perplexity_max_documents) when the training data stands in for held-out
    documents: the report shows used / available per language."""
    torch.set_num_threads(2)
    results = run(PerplexitySettings(max_length=64, stride=32, max_docs_per_language=1), gemma3_dir, [docs_file])
    assert results["documents"] == {"id": 1, "vi": 1, "th": 1, "my": 1, "en": 1}
    assert results["documents_available"] == {"id": 1, "vi": 1, "th": 1, "my": 1, "en": 2}
