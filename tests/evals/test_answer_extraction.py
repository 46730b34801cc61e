"""Answer-tag extraction on realistic model outputs in every SEA-HELM language."""

from functools import cache

import pytest

from evals.answer_extraction import extract_answer
from evals.local_eval import LocalEvalSettings, load_questions

ABCD = ["A", "B", "C", "D"]
MY_LABELS = ["က", "ခ", "ဂ", "ဃ"]
# Tags for th/ta come from SEA-HELM's other task configs (Global MMLU Lite has no Thai/Tamil).
OTHER_TAGS = {"th": "คำตอบ:", "ta": "பதில்:"}


@cache
def answer_tag(lang: str) -> str:
    """The tag local_eval puts in its questions, from the packaged SEA-HELM Global MMLU Lite config."""
    return load_questions(LocalEvalSettings(), lang)[0].answer_tag


CASES = [
    ("en", "Answer: B", ABCD, "B"),
    ("en", "The correct option is the second one.\n**Answer:** **C**", ABCD, "C"),
    ("en", "I am not sure about this question.", ABCD, None),
    ("id", "Jawaban: D\n\nPenjelasan: truk lebih ringan di Mars.", ABCD, "D"),
    ("id", "jawaban:a", ABCD, "A"),
    ("vi", "Câu trả lời: **A**", ABCD, "A"),
    ("vi", "Tôi nghĩ đáp án đúng là B vì...", ABCD, None),
    ("th", "คำตอบ: C เพราะว่ามวลไม่เปลี่ยน", ABCD, "C"),
    ("ta", "பதில்: D", ABCD, "D"),
    ("tl", "Sagot: B", ABCD, "B"),
    ("tl", "Sagot:\n\n* B", ABCD, "B"),
    ("ms", "Jawapan: C\nKerana jisim trak sama di mana-mana.", ABCD, "C"),
    ("ms", "C", ABCD, "C"),  # no tag, but the bare answer is exactly a label
    ("my", "အဖြေ- ဂ", MY_LABELS, "ဂ"),
    ("my", "အဖြေ- **ခ** ဖြစ်ပါသည်။", MY_LABELS, "ခ"),
    ("my", "မသိပါ", MY_LABELS, None),
    ("zh", "答案: D", ABCD, "D"),
    ("zh", "答案:**B**，因为卡车的质量不变。", ABCD, "B"),
]


@pytest.mark.parametrize("lang,response,labels,expected", CASES)
def test_extracts_answer_after_language_tag(lang, response, labels, expected):
    tag = OTHER_TAGS.get(lang) or answer_tag(lang)
    assert extract_answer(response, tag, labels) == expected


def test_word_labels_and_missing_response():
    labels = ["Positif", "Negatif", "Netral"]
    assert extract_answer("Jawaban: negatif", "Jawaban:", labels) == "Negatif"
    assert extract_answer(None, "Jawaban:", labels) is None


def test_tags_read_from_the_real_config_are_in_the_prompts():
    assert answer_tag("my") == "အဖြေ-" and answer_tag("vi") == "Câu trả lời:"
    for lang in ("en", "id", "my", "zh", "vi", "ms", "tl"):
        question = load_questions(LocalEvalSettings(), lang)[0]
        assert question.answer_tag in question.prompt
