"""Blend weights from measured tokens, checked by megatron-core's BlendedMegatronDatasetBuilder drawing samples."""

import json
from collections import Counter
from pathlib import Path

import pytest

from data_prep.blend import BlendSettings
from data_prep.blend import run as blend
from data_prep.tokenize import TokenizeSettings
from data_prep.tokenize import run as tokenize
from tests.helpers.dataprep_corpus import write_corpus

MIX = """name: t
budget_tokens: 100000
groups:
  - {name: EN, languages: [en], share: 50}
  - {name: SEA, languages: [th, id], share: 50}
rows:
  - {group: EN, languages: [en], source: web, label: en-web, tokens: 30000, share: 30}
  - {group: EN, languages: [en], source: pile, label: en-pile, tokens: 20000, share: 20}
  - {group: SEA, languages: [th, id], source: "*", label: sea, tokens: 50000, share: 50}
"""


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, gemma3_dir):
    root = tmp_path_factory.mktemp("prep")
    write_corpus(root / "c.jsonl", 400, seed=3)
    lines = [json.loads(x) for x in (root / "c.jsonl").read_text().splitlines()]
    kept = [d for d in lines if d["lang"] in ("en", "th", "id")]
    (root / "c.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in kept))
    summary = tokenize(
        TokenizeSettings(tokenizer=str(gemma3_dir), workers=1), [str(root / "c.jsonl")], str(root / "tok")
    )
    (root / "mix.yaml").write_text(MIX)
    return root, summary


def test_weights_follow_targets_and_epochs(prepared, caplog):
    root, tok = prepared
    available = {p.key: p.tokens for p in tok.prefixes}
    summary = blend(BlendSettings(max_epochs=2.0), str(root / "mix.yaml"), tok.tokens_json, str(root / "blend"))
    by_key = {e.key: e for e in summary.entries}
    assert set(by_key) == {"web__en", "pile__en", "web__th", "pile__th", "web__id", "pile__id"}
    assert by_key["web__en"].weight == pytest.approx(0.30)
    sea = available["web__th"] + available["pile__th"] + available["web__id"] + available["pile__id"]
    assert by_key["pile__id"].weight == pytest.approx(0.5 * available["pile__id"] / sea)
    assert by_key["web__en"].epochs == pytest.approx(30000 / available["web__en"])
    assert any("exceeds max_epochs=2.0" in w for w in summary.warnings) == any(e.epochs > 2 for e in summary.entries)
    written = json.loads(Path(summary.blend_json).read_text())["blend"]
    assert written == [[e.prefix for e in summary.entries], [e.weight for e in summary.entries]]
    assert "| web__en | EN/en-web | en |" in Path(summary.report_md).read_text()
    assert Path(summary.chart_png).read_bytes()[:4] == b"\x89PNG"


def test_budget_override_scales_epochs(prepared):
    root, tok = prepared
    full = blend(BlendSettings(), str(root / "mix.yaml"), tok.tokens_json, str(root / "b1"))
    small = blend(BlendSettings(budget_tokens=10000), str(root / "mix.yaml"), tok.tokens_json, str(root / "b2"))
    assert [e.weight for e in small.entries] == pytest.approx([e.weight for e in full.entries])
    assert [e.epochs * 10 for e in small.entries] == pytest.approx([e.epochs for e in full.entries])


def test_row_without_data_is_an_error_or_dropped(prepared):
    root, tok = prepared
    (root / "mix2.yaml").write_text(MIX.replace("source: pile, label: en-pile", "source: books, label: en-books"))
    with pytest.raises(ValueError, match="row EN/en-books"):
        blend(BlendSettings(), str(root / "mix2.yaml"), tok.tokens_json, str(root / "b3"))
    summary = blend(BlendSettings(drop_missing=True), str(root / "mix2.yaml"), tok.tokens_json, str(root / "b3"))
    assert summary.dropped_rows == ["EN/en-books"]
    assert "pile__en" not in {e.key for e in summary.entries}


def test_megatron_blended_dataset_draws_the_target_shares(prepared, gemma3_dir, tmp_path):
    import torch.distributed as dist
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
    from megatron.core.tokenizers import MegatronTokenizer

    root, tok = prepared
    summary = blend(BlendSettings(), str(root / "mix.yaml"), tok.tokens_json, str(root / "b4"))
    prefixes, weights = json.loads(Path(summary.blend_json).read_text())["blend"]
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1)
    try:
        config = GPTDatasetConfig(
            random_seed=1234,
            sequence_length=64,
            blend=(prefixes, weights),
            split="1,0,0",
            path_to_cache=str(tmp_path / "cache"),
            reset_position_ids=False,
            reset_attention_mask=False,
            eod_mask_loss=False,
            tokenizer=MegatronTokenizer.from_pretrained(
                tokenizer_path=str(gemma3_dir), metadata_path={"library": "huggingface"}
            ),
        )
        n = 3000
        # Request 0 samples for the empty valid/test splits: a non-zero request on an empty split loops forever.
        train, valid, test = BlendedMegatronDatasetBuilder(GPTDataset, [n, 0, 0], lambda: True, config).build()
        drawn = Counter(train[i]["dataset_id"] for i in range(n))
    finally:
        dist.destroy_process_group()
    for i, weight in enumerate(weights):
        assert abs(drawn[i] / n - weight) < 0.02, (prefixes[i], drawn[i] / n, weight)
