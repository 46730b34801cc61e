"""Each cleaning, script, quality and dedup rule on real sample text, one at a time, with its named reason."""

import json
from pathlib import Path

import pytest

from data_prep.clean import CleanSettings, clean_document, normalise_text
from data_prep.dedup import Deduplicator, DedupSettings
from data_prep.documents import Document, Rejection
from data_prep.quality import QualitySettings, check_quality
from data_prep.segment import word_count

SAMPLE = Path(__file__).resolve().parents[2] / "data_prep" / "sample_corpus"
DOCS = {d["id"]: d for p in sorted(SAMPLE.glob("*.jsonl")) for d in map(json.loads, p.read_text().splitlines())}
SHORT = QualitySettings(min_words=10)


def _doc(sample_id: str, text: str | None = None, lang: str | None = None, doc_id: str | None = None) -> Document:
    d = DOCS[sample_id]
    return Document(
        doc_id or sample_id,
        text if text is not None else d["text"],
        lang or d["lang"],
        d["source"],
        f"sample:{sample_id}",
    )


def test_normalisation_nfc_controls_and_whitespace():
    decomposed = "Vie\u0302\u0323t  Nam\u00a0\u00a0is\x07 here \r\n\n\n\n\tnext\x00 line  "
    assert normalise_text(decomposed, "vi") == "Việt Nam is here\n\nnext line"
    code = "def f():\r\n    return  1   \n\n\n\n\tx = 2\n"
    assert normalise_text(code, "code") == "def f():\n    return  1\n\n\tx = 2"
    khmer_with_zero_width_space = DOCS["km-000"]["text"][:10] + "\u200b" + DOCS["km-000"]["text"][10:20]
    assert "\u200b" in normalise_text(khmer_with_zero_width_space, "km")


def test_every_sample_document_passes_its_own_script_and_short_quality_rules():
    for sample_id in DOCS:
        cleaned = clean_document(_doc(sample_id), CleanSettings())
        assert isinstance(cleaned, Document), (sample_id, cleaned)
        assert check_quality(cleaned, SHORT) is None, sample_id


@pytest.mark.parametrize(
    "sample_id, declared, script",
    [
        ("en-000", "th", "Thai"),
        ("th-000", "lo", "Lao"),
        ("lo-000", "th", "Thai"),
        ("km-000", "my", "Myanmar"),
        ("zh-000", "en", "Latin"),
        ("ta-000", "vi", "Latin"),
        ("vi-000", "zh", "Han"),
        ("my-000", "km", "Khmer"),
    ],
)
def test_wrong_script_is_rejected_with_the_measured_fraction(sample_id, declared, script):
    rejection = clean_document(_doc(sample_id, lang=declared), CleanSettings())
    assert isinstance(rejection, Rejection) and rejection.rule == "wrong_script"
    assert "0.00 of" in rejection.detail and script in rejection.detail


def test_mixed_script_passes_when_mostly_the_declared_script():
    thai_with_english = DOCS["th-000"]["text"] + " (Isan, Thailand)"
    assert isinstance(clean_document(_doc("th-000", thai_with_english), CleanSettings()), Document)
    mostly_english = DOCS["en-000"]["text"] + " " + DOCS["th-000"]["text"][:20]
    assert clean_document(_doc("th-000", mostly_english), CleanSettings()).rule == "wrong_script"


def test_script_aware_word_counts():
    # the same two-sentence story is 30-odd words in every language, not 2 "words" for unspaced scripts
    for sample_id in ("th-000", "km-000", "lo-000", "my-000", "zh-000"):
        assert 15 <= word_count(DOCS[sample_id]["text"], DOCS[sample_id]["lang"]) <= 35, sample_id
    assert check_quality(_doc("th-000"), QualitySettings(min_words=50)).detail == "24 words < 50"


def _rule(text: str, lang: str = "en", **settings) -> Rejection:
    rejection = check_quality(_doc("en-000", text, lang), QualitySettings(min_words=10, **settings))
    assert rejection is not None, text
    return rejection


def test_each_quality_rule_names_itself_and_its_value():
    en = [DOCS[f"en-00{i}"]["text"] for i in range(4)]
    assert _rule(" ".join(en), max_words=100).detail == "135 words > 100"
    assert _rule("a b c d e f g h i j k l m n o p").detail == "mean word length 1.00 < 3"
    assert _rule("supercalifragilistic " * 12 + "internationalisation " * 3).rule == "mean_word_length"
    assert (
        _rule(en[0] + " #rice #terraces #farm #hills #repair #season").detail == "6 symbols per 39 words = 0.154 > 0.1"
    )
    ellipsis = "\n".join(s.rstrip(".") + "..." for s in en[1].split(". "))
    assert _rule(ellipsis + "\n" + en[0]).detail == "2 of 3 lines end with an ellipsis = 0.67 > 0.3"
    bullets = "\n".join(f"- {s}" for s in en)
    assert _rule(bullets).detail == "4 of 4 lines start with a bullet = 1.00 > 0.9"
    assert _rule("\n".join([en[0], en[1], en[0], en[0]])).detail == "2 of 4 lines repeat an earlier line = 0.50 > 0.3"
    assert _rule("click here " * 6 + en[2]).detail.startswith("'click here' x6 covers 0.")
    assert _rule("click here to win " * 3 + en[2]).rule == "top_4gram"
    assert (
        _rule(
            "the rain came down on the hill and the rain came down on the road and " * 2,
            max_top_ngram_fraction={3: 0.18},
        ).rule
        == "top_3gram"
    )


def test_code_gets_length_bounds_only():
    code = DOCS["code-002"]["text"]
    repetitive_code = "\n".join([code] * 3)  # duplicate lines and n-grams: normal in code
    assert check_quality(_doc("code-002", repetitive_code), SHORT) is None
    assert check_quality(_doc("code-002", "x = 1"), SHORT).rule == "min_words"


def test_near_duplicates_in_unspaced_scripts_and_word_shingles():
    thai = DOCS["th-001"]["text"]
    for settings in (DedupSettings(), DedupSettings(shingle="word", ngram=2, threshold=0.6)):
        dedup = Deduplicator(settings)
        assert dedup.check(_doc("th-001")) is None
        assert dedup.check(_doc("th-000")) is None
        edited = dedup.check(_doc("th-001", thai.replace("ค่ำ", "ดึก"), doc_id="edited"))
        assert edited is not None and edited.rule == "near_duplicate" and edited.duplicate_of == "th-001"
    zh = Deduplicator(DedupSettings())
    two_paragraphs = DOCS["zh-000"]["text"] + "\n" + DOCS["zh-001"]["text"]
    assert zh.check(_doc("zh-000", two_paragraphs)) is None
    assert zh.check(_doc("zh-001")) is None  # half of it: Jaccard about 0.5, not a near-duplicate
    tea = zh.check(_doc("zh-000", two_paragraphs.replace("咖啡", "茶"), doc_id="tea"))
    assert tea.rule == "near_duplicate" and tea.duplicate_of == "zh-000"


def test_dedup_keeps_the_first_and_never_points_at_a_removed_document():
    dedup = Deduplicator(DedupSettings(near=False))
    assert dedup.check(_doc("vi-000")) is None
    again = dedup.check(_doc("vi-000", DOCS["vi-000"]["text"].lower() + " !!", doc_id="copy"))
    assert again.rule == "exact_duplicate" and again.duplicate_of == "vi-000"
    distinct = [dedup.check(_doc(i)) for i in DOCS if i != "vi-000"]
    assert distinct == [None] * (len(DOCS) - 1)
