"""Math reward with math-verify on real answers; IFEval-style constraints in six SEA languages."""

from __future__ import annotations

import pytest

from recipes.posttrain.rewards_ifeval import (
    AllLowercase,
    BulletPointCount,
    EndsWith,
    KeywordsForbidden,
    KeywordsIncluded,
    NoCommas,
    ParagraphCount,
    SentenceCount,
    StartsWith,
    ValidJSON,
    WordCount,
    ifeval_reward,
)
from recipes.posttrain.rewards_math import GoldAnswerError, math_reward
from recipes.posttrain.text_units import count_words


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        ("Jadi, peluangnya adalah $\\boxed{\\frac{1}{2}}$.", "0.5"),
        ("Vậy xác suất là 0.5", "\\frac{1}{2}"),
        ("ดังนั้นคำตอบคือ 1/2", "1/2"),
        ("Kaya ang sagot ay $\\boxed{(x+1)^2}$", "x^2+2x+1"),
        ("x = 12, jadi jawabannya \\boxed{12}", "12"),
        ("\\boxed{\\sqrt{2}/2}", "\\frac{\\sqrt{2}}{2}"),
    ],
)
def test_math_reward_accepts_equivalent_answers(response, gold):
    assert math_reward(response, gold).reward == 1.0


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        ("Jawabannya \\boxed{3}", "4"),
        ("Đáp án: \\boxed{\\frac{1}{3}}", "0.5"),
        ("}}}\\frac{{ \\boxed{", "4"),  # garbage: no exception, reward 0
        ("", "4"),
        ("tôi không biết", "7"),
    ],
)
def test_math_reward_rejects_wrong_or_garbage(response, gold):
    assert math_reward(response, gold).reward == 0.0


def test_math_reward_refuses_an_unreadable_gold_answer():
    with pytest.raises(GoldAnswerError, match="gold answer"):
        math_reward("\\boxed{1}", "")


# Per language: two natural sentences (the second has a comma), a keyword in the first, its first and last words.
TEXTS = {
    "id": (
        "Jakarta adalah ibu kota Indonesia.",
        "Kota ini ramai, padat, dan penuh dengan makanan yang lezat.",
        "ibu kota",
        "Jakarta adalah",
        "yang lezat.",
    ),
    "vi": (
        "Hà Nội là thủ đô của Việt Nam.",
        "Thành phố này có nhiều hồ đẹp, phố cổ và món phở nổi tiếng.",
        "thủ đô",
        "Hà Nội",
        "nổi tiếng.",
    ),
    "th": (
        "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
        "เมืองนี้มีวัดสวยงามและอาหารริมทางที่อร่อยมาก",
        "เมืองหลวง",
        "กรุงเทพ",
        "อร่อยมาก",
    ),
    "tl": (
        "Ang Maynila ang kabisera ng Pilipinas.",
        "Napakaraming tao rito, kaya laging trapik sa mga kalsada tuwing umaga.",
        "kabisera",
        "Ang Maynila",
        "tuwing umaga.",
    ),
    "ta": (
        "சென்னை தமிழ்நாட்டின் தலைநகரம் ஆகும்.",
        "இந்த நகரம் கடற்கரை, கோயில்கள் மற்றும் சுவையான உணவுக்கு பிரபலமானது.",
        "தலைநகரம்",
        "சென்னை",
        "பிரபலமானது.",
    ),
    "my": (
        "ရန်ကုန်သည် မြန်မာနိုင်ငံ၏ အကြီးဆုံးမြို့ ဖြစ်သည်။",
        "ထိုမြို့တွင် ရွှေတိဂုံဘုရား၊ ဈေးများနှင့် အစားအစာကောင်းများ ရှိသည်။",
        "ရန်ကုန်",
        "ရန်ကုန်သည်",
        "ရှိသည်။",
    ),
}
LANGUAGES = list(TEXTS)


def _answer(language: str) -> str:
    first, second, *_ = TEXTS[language]
    return f"{first} {second}"


def _cases(language: str):
    """(constraint, passing response, failing response) for one language."""
    first, second, keyword, start, end = TEXTS[language]
    answer = _answer(language)
    first_words = count_words(first, language)
    return [
        (WordCount(at_most=first_words), first, answer),
        (WordCount(at_least=first_words + 3), answer, first),
        (SentenceCount(at_least=2), answer, first),
        (SentenceCount(at_most=1), first, answer),
        (ParagraphCount(2), f"{first}\n***\n{second}", answer),
        (ParagraphCount(2, separator="blank_line"), f"{first}\n\n{second}", f"{first}\n\n\n\n{second}\n\n{first}"),
        (KeywordsIncluded((keyword,)), answer, second),
        (KeywordsForbidden((keyword,)), second, answer),
        (StartsWith(start), answer, second),
        (EndsWith(end), answer, first),
        (ValidJSON(), f'```json\n{{"jawaban": "{first}"}}\n```', f'{{"jawaban": "{first}"'),
        (BulletPointCount(2), f"- {first}\n- {second}", f"* {first}\n* {second}\n* {first}"),
        (NoCommas(), first, second if language != "th" else f"{first}, {second}"),
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_constraint_passes_and_fails_in_language(language):
    for constraint, passing, failing in _cases(language):
        assert constraint.is_followed(passing, language), (language, constraint, passing)
        assert not constraint.is_followed(failing, language), (language, constraint, failing)


@pytest.mark.parametrize("language", ["id", "vi", "tl"])
def test_all_lowercase_in_cased_scripts(language):
    answer = _answer(language)
    assert AllLowercase().is_followed(answer.lower(), language)
    assert not AllLowercase().is_followed(answer, language)


def test_all_lowercase_is_refused_for_a_caseless_script():
    with pytest.raises(ValueError, match="no letter case"):
        ifeval_reward(_answer("th"), "th", [AllLowercase()])


def test_script_aware_word_counts():
    assert count_words("ฉันชอบกินข้าวผัด", "th") == 4  # ฉัน | ชอบ | กิน | ข้าวผัด
    assert count_words("我喜欢吃米饭。", "zh") == 6  # one per Han character
    assert count_words("Saya suka makan nasi goreng.", "id") == 5
    assert count_words("မြန်မာနိုင်ငံ", "my") == 4  # syllables: မြန် | မာ | နိုင် | ငံ
    assert count_words("សួស្តី", "km") == 2  # clusters: សួ | ស្តី (subscript joined), = its 2 syllables
    # Lao: ສະ | ບາ | ຍ | ດີ -- the documented over-count: the final ຍ of the syllable ບາຍ is its own cluster
    assert count_words("ສະບາຍດີ", "lo") == 4


@pytest.mark.parametrize("language", LANGUAGES)
def test_reward_is_the_fraction_followed_and_zero_in_the_wrong_language(language):
    first, second, keyword, start, _ = TEXTS[language]
    constraints = [KeywordsIncluded((keyword,)), StartsWith(start), SentenceCount(at_most=1)]  # 2 of 3 followed
    result = ifeval_reward(_answer(language), language, constraints)
    assert result.in_language and result.followed == (True, True, False)
    assert result.reward == pytest.approx(2 / 3)
    assert ifeval_reward(_answer(language), language, constraints, all_or_nothing=True).reward == 0.0
    assert ifeval_reward(first, language, constraints, all_or_nothing=True).reward == 1.0

    other = "vi" if language != "vi" else "id"  # a perfect answer in another SEA language earns nothing
    wrong = ifeval_reward(first, other, [SentenceCount(at_most=1)])
    assert wrong.followed == (True,) and not wrong.in_language and wrong.reward == 0.0


def test_english_answer_to_a_thai_prompt_earns_zero_and_malay_counts_for_indonesian():
    english = "Bangkok is the capital of Thailand. It is famous for its temples and street food."
    assert ifeval_reward(english, "th", [SentenceCount(at_least=2)]).reward == 0.0
    malay = "Kuala Lumpur ialah ibu negara Malaysia. Bandar ini terkenal dengan menara berkembarnya."
    assert ifeval_reward(malay, "id", [SentenceCount(at_least=2)]).reward == 1.0
    assert ifeval_reward("   ", "id", [SentenceCount(at_least=1)]).reward == 0.0
