"""Blend weights and epochs on the model card's real datamix, whose rows sum to 486.487B of a 500B budget.

That gap is where a wrong normaliser shows: dividing by the budget instead of the sum of targets changes every
language's share. Expectations below are the card's numbers worked by hand (see each comment), not blend's output.
Prepared prefixes are written as tokens.json rows (the layout data_prep.tokenize writes: key, prefix, lang, source,
tokens); no tokenizer is needed, so these tests are fast enough to drive the mutation run (bench/mutation.py).
"""

import json
from pathlib import Path

import pytest

from data_prep.blend import BlendSettings, compute, run
from data_prep.datamix import load

REPO = Path(__file__).resolve().parents[2]
SEALION_V4 = REPO / "conf/data/datamix/sealion_v4.yaml"
B = 1_000_000_000
# Sum of the card's rows, by hand: Code 50 + EN (80 + 80 + 40) + ZH (13.5 + 13.5 + 4.5) + VI (4.25 + 12.75 + 8.5 + 17)
# + ID (5.66 + 17 + 11.33 + 8.5) + TH (5 x 3.035 + 9.107 + 21.25) + ALL_LANG 77.5
#   = 50 + 200 + 31.5 + 42.5 + 42.49 + 42.497 + 77.5 = 486.487 B.
ROWS_TOTAL = 486.487 * B
# The ALL_LANG row ("*" source) is split over six languages in proportion to their available tokens (40.5 B here).
ALL_LANG_AVAILABLE = {"tl": 10 * B, "ta": 5 * B, "ms": 20 * B, "km": 2 * B, "lo": 1 * B, "my": 2.5 * B}


def _prepared(mix) -> list[dict]:
    """One prefix per single-language row with 25 B available; one per ALL_LANG language with the amounts above."""
    rows = []
    for row in mix.rows:
        if row.source == "*":
            for lang, tokens in ALL_LANG_AVAILABLE.items():
                rows.append(
                    {
                        "key": f"web__{lang}",
                        "prefix": f"web__{lang}",
                        "lang": lang,
                        "source": "web",
                        "tokens": int(tokens),
                    }
                )
        else:
            lang = row.languages[0]
            rows.append(
                {
                    "key": f"{row.source}__{lang}",
                    "prefix": f"{row.source}__{lang}",
                    "lang": lang,
                    "source": row.source,
                    "tokens": 25 * B,
                }
            )
    return rows


@pytest.fixture(scope="module")
def card():
    mix = load(SEALION_V4)
    return mix, _prepared(mix)


def _by_lang(entries, attr):
    out = {}
    for e in entries:
        out[e.lang] = out.get(e.lang, 0.0) + getattr(e, attr)
    return out


def test_language_shares_are_row_tokens_over_the_rows_sum_not_the_budget(card, tmp_path):
    mix, prepared = card
    summary = compute(mix, prepared, tmp_path, BlendSettings())
    weights = _by_lang(summary.entries, "weight")
    # Each language's share of draws: its rows' tokens over 486.487 B (over 500 B they would sum to 0.973).
    expected = {"code": 50, "en": 200, "zh": 31.5, "vi": 42.5, "id": 42.49, "th": 42.497}
    for lang, tokens in expected.items():
        assert weights[lang] == pytest.approx(tokens * B / ROWS_TOTAL, rel=1e-9), lang
    # ALL_LANG: 77.5 B split 10 : 5 : 20 : 2 : 1 : 2.5 over 40.5 B, e.g. Malay 77.5 x 20 / 40.5 = 38.27 B.
    assert weights["ms"] == pytest.approx(77.5 * 20 / 40.5 * B / ROWS_TOTAL, rel=1e-9)
    assert weights["lo"] == pytest.approx(77.5 * 1 / 40.5 * B / ROWS_TOTAL, rel=1e-9)
    assert sum(weights.values()) == pytest.approx(1.0, rel=1e-12)
    by_key = {e.key: e for e in summary.entries}
    assert by_key["fineweb_edu__en"].weight == pytest.approx(80 / 486.487, rel=1e-9)
    assert by_key["fineweb_edu__en"].target_tokens == pytest.approx(80 * B)
    assert (by_key["web__ms"].lang, by_key["web__ms"].source, by_key["web__ms"].row) == (
        "ms",
        "web",
        "TL, TA, MS, KM, LO and MY/ALL_LANG",
    )
    assert by_key["web__ms"].target_tokens == pytest.approx(77.5 * 20 / 40.5 * B)
    assert summary.budget_tokens == 500 * B
    assert [e.row for e in summary.entries][:2] == ["Code/StarCoder (OLMo 2 Version)", "EN/Fineweb-Edu"]


def test_epochs_are_the_prefix_target_over_the_prefix_tokens(card, tmp_path):
    mix, prepared = card
    entries = {e.key: e for e in compute(mix, prepared, tmp_path, BlendSettings()).entries}
    # Inside a row, sampling is natural: every prefix is repeated row tokens / row available times.
    for lang in ALL_LANG_AVAILABLE:
        assert entries[f"web__{lang}"].epochs == pytest.approx(77.5 / 40.5, rel=1e-9), lang
        assert entries[f"web__{lang}"].available_tokens == ALL_LANG_AVAILABLE[lang]
    assert entries["fineweb_edu__en"].epochs == pytest.approx(80 / 25)
    assert entries["non_cc_th__th"].epochs == pytest.approx(21.25 / 25)
    # A smoke budget of 5 B scales every target (and so every epoch count) by 5 / 500, and leaves weights alone.
    small = {e.key: e for e in compute(mix, prepared, tmp_path, BlendSettings(budget_tokens=5 * B)).entries}
    assert small["web__tl"].epochs == pytest.approx(77.5 / 40.5 / 100, rel=1e-9)
    assert small["web__tl"].weight == pytest.approx(entries["web__tl"].weight, rel=1e-12)


def test_epoch_warning_names_the_prefixes_past_max_epochs(card, tmp_path):
    mix, prepared = card
    # Epochs above 3: fineweb_edu__en and dclm_olmo2_hq__en (80/25 = 3.2); ALL_LANG's 1.91 and the rest stay below.
    summary = compute(mix, prepared, tmp_path, BlendSettings(max_epochs=3.0))
    over = [w for w in summary.warnings if "exceeds max_epochs" in w]
    assert len(over) == 2 and over[0].startswith("fineweb_edu__en (EN/Fineweb-Edu): 3.20 epochs")
    # At exactly the limit (3.2) nothing is past it.
    assert not [w for w in compute(mix, prepared, tmp_path, BlendSettings(max_epochs=3.2)).warnings if "exceeds" in w]
    # The card's own inconsistency (ZH rows 6.3% against a 9% group) is reported, not repaired.
    assert any(w.startswith("datamix sealion_v4: ") and "ZH" in w for w in summary.warnings)


def test_missing_rows_fail_or_drop(card, tmp_path):
    mix, prepared = card
    without_th = [p for p in prepared if p["lang"] != "th"]
    with pytest.raises(ValueError, match=r"datamix row TH/SEA-LION Pile v1 .* has no prepared data"):
        compute(mix, without_th, tmp_path, BlendSettings())
    summary = compute(mix, without_th, tmp_path, BlendSettings(drop_missing=True))
    assert len(summary.dropped_rows) == 6 and summary.dropped_rows[0] == "TH/SEA-LION Pile v1"
    assert "dropped row TH/Non-CC-TH: no prepared data" in summary.warnings
    # Dropping Thai's 42.497 B renormalises over what is left: English is 200 / (486.487 - 42.497).
    assert _by_lang(summary.entries, "weight")["en"] == pytest.approx(200 / (486.487 - 42.497), rel=1e-9)
    empty = [dict(p, tokens=0) if p["key"] == "non_cc_en__en" else p for p in prepared]
    with pytest.raises(ValueError, match="EN/Non-CC-EN"):
        compute(mix, empty, tmp_path, BlendSettings())
    # One token is data: the row is kept, and repeated 40 B times.
    one = [dict(p, tokens=1) if p["key"] == "non_cc_en__en" else p for p in prepared]
    assert {e.key: e.epochs for e in compute(mix, one, tmp_path, BlendSettings()).entries}["non_cc_en__en"] == 40 * B


def test_mapping_overrides_matching_and_rejects_unknown_rows(card, tmp_path):
    mix, prepared = card
    # Map Non-CC-EN onto the Fineweb2 Vietnamese prefix's data instead of its own: fineweb2__vi then matches
    # two rows, which must fail; an unknown row key fails too.
    mapping = {"EN/Non-CC-EN": ["fineweb2__vi"]}
    with pytest.raises(ValueError, match="fineweb2__vi matches more than one datamix row"):
        compute(mix, prepared, tmp_path, BlendSettings(mapping=mapping))
    with pytest.raises(ValueError, match=r"names rows \['EN/Nope'\]"):
        compute(mix, prepared, tmp_path, BlendSettings(mapping={"EN/Nope": ["x"]}))
    # A mapping to a renamed prefix: Non-CC-EN reads "books__en" (source books, which no row names).
    renamed = [dict(p, key="books__en", source="books") if p["key"] == "non_cc_en__en" else p for p in prepared]
    summary = compute(mix, renamed, tmp_path, BlendSettings(mapping={"EN/Non-CC-EN": ["books__en"]}))
    assert {e.key: e.weight for e in summary.entries}["books__en"] == pytest.approx(40 / 486.487, rel=1e-9)


def test_run_writes_megatron_blend_report_and_chart(card, tmp_path):
    mix, prepared = card
    tokens_json = tmp_path / "tok" / "tokens.json"
    tokens_json.parent.mkdir()
    tokens_json.write_text(json.dumps({"prefixes": prepared}))
    out = tmp_path / "out" / "cpt"  # a new nested directory
    summary = run(BlendSettings(), str(SEALION_V4), str(tokens_json), str(out))
    # The CPT stage reads these three names from the output directory.
    assert (summary.blend_json, summary.report_md, summary.chart_png) == tuple(
        str(out / name) for name in ("blend.json", "blend.md", "blend.png")
    )
    payload = json.loads(Path(summary.blend_json).read_text())
    assert set(payload) == {"blend", "budget_tokens", "datamix", "entries", "dropped_rows", "warnings"}
    assert payload["warnings"] == summary.warnings
    prefixes, weights = payload["blend"]
    assert prefixes[1] == str(tmp_path / "tok" / "fineweb_edu__en") and weights[1] == pytest.approx(80 / 486.487)
    assert payload["budget_tokens"] == 500 * B and payload["datamix"] == "sealion_v4"
    assert len(payload["entries"]) == len(prefixes) == 27 and payload["dropped_rows"] == []
    report = Path(summary.report_md).read_text()
    assert report.startswith("# Blend for datamix `sealion_v4`\n\nBudget: 500,000,000,000 tokens.")
    # 80 B of 486.487 B is 0.1644; 80 B over 25 B available is 3.20 epochs.
    assert "| fineweb_edu__en | EN/Fineweb-Edu | en | 25,000,000,000 | 80,000,000,000 | 0.1644 | 3.20 |" in report
    assert "## Warnings" in report
    assert Path(summary.chart_png).read_bytes()[:4] == b"\x89PNG"
    # Running again into the same directory rewrites it.
    assert run(BlendSettings(), str(SEALION_V4), str(tokens_json), str(out)).blend_json == summary.blend_json
    # A 5 B smoke budget, with the dropped-row line when Thai is missing (what the data_prep stage passes).
    tokens_json.write_text(json.dumps({"prefixes": [p for p in prepared if p["lang"] != "th"]}))
    smoke = BlendSettings(budget_tokens=5 * B, drop_missing=True, max_epochs=9)
    printed = Path(run(smoke, str(SEALION_V4), str(tokens_json), str(tmp_path / "smoke")).report_md).read_text()
    assert (
        "Budget: 5,000,000,000 tokens." in printed and "Dropped rows (no prepared data): TH/SEA-LION Pile v1" in printed
    )
    assert "exceeds max_epochs" not in printed
