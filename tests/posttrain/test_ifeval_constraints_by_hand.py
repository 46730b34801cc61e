"""IFEval constraints at their boundaries, on short texts whose words, sentences and paragraphs are counted by hand
(issue #21: the mutation run of recipes/posttrain/rewards_ifeval.py)."""

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
    check_constraints,
    ifeval_reward,
)

# (language, text, words counted by hand)
WORDS = [
    ("vi", "Tôi thích ăn phở.", 4),
    ("th", "ฉันชอบกินข้าวผัด", 4),  # ฉัน | ชอบ | กิน | ข้าวผัด, no spaces
    ("zh", "我喜欢米饭", 5),  # one word per Han character
    ("id", "Saya suka makan nasi goreng, kan?", 6),
]


@pytest.mark.parametrize(("language", "text", "words"), WORDS, ids=[w[0] for w in WORDS])
def test_word_count_bounds_are_inclusive(language, text, words):
    assert WordCount(at_least=words, at_most=words).is_followed(text, language)  # exactly n: both bounds equal
    assert WordCount(at_least=words).is_followed(text, language)
    assert WordCount(at_most=words).is_followed(text, language)
    assert not WordCount(at_least=words + 1).is_followed(text, language)
    assert not WordCount(at_most=words - 1).is_followed(text, language)


# (language, text, sentences counted by hand)
SENTENCES = [
    ("en", "One. Two! Three?", 3),
    ("th", "ฉันชอบกินข้าว ฉันไปตลาด", 2),  # Thai ends a sentence with a space
    ("zh", "我喜欢米饭。你呢？", 2),
    ("my", "ရန်ကုန်သည် မြို့ ဖြစ်သည်။ ထိုမြို့ ကြီးသည်။", 2),  # the Burmese full stop ။
    ("ta", "சென்னை பெரிய நகரம். அது அழகானது.", 2),
]


@pytest.mark.parametrize(("language", "text", "sentences"), SENTENCES, ids=[s[0] for s in SENTENCES])
def test_sentence_count_bounds_are_inclusive(language, text, sentences):
    assert SentenceCount(at_least=sentences, at_most=sentences).is_followed(text, language)
    assert not SentenceCount(at_least=sentences + 1).is_followed(text, language)
    assert not SentenceCount(at_most=sentences - 1).is_followed(text, language)


@pytest.mark.parametrize("cls", [WordCount, SentenceCount])
def test_a_range_names_its_constraint_and_refuses_an_empty_or_inverted_range(cls):
    assert cls(at_least=2, at_most=2).at_most == 2  # an exact count is a valid range
    with pytest.raises(ValueError, match=f"^{cls.__name__}: set at_least"):
        cls()
    with pytest.raises(ValueError, match=f"^{cls.__name__}: at_least=3 exceeds at_most=2"):
        cls(at_least=3, at_most=2)


def test_paragraphs_split_on_the_divider_or_blank_lines_and_an_empty_one_breaks_the_count():
    three = "Satu.\n***\nDua.\n***\nTiga."
    assert ParagraphCount(3).is_followed(three, "id")
    assert not ParagraphCount(2).is_followed(three, "id")
    # three pieces by count, but the middle one is empty: IFEval rejects it
    assert not ParagraphCount(3).is_followed("Satu.\n***\n***\nTiga.", "id")
    assert not ParagraphCount(3, separator="blank_line").is_followed("หนึ่ง\n\n \n\nสาม", "th")
    assert ParagraphCount(2, separator="blank_line").is_followed("หนึ่ง\n\nสอง\n", "th")
    assert ParagraphCount(1, separator="blank_line").is_followed("หนึ่ง *** สอง", "th")  # *** is not its separator
    with pytest.raises(ValueError, match="separator='---'"):
        ParagraphCount(2, separator="---")


def test_keywords_fold_case_and_unicode_forms():
    decomposed = "Ha\u0300 No\u0302\u0323i"  # Hà Nội with combining marks (NFD)
    assert KeywordsIncluded(("hà nội", "PHỞ")).is_followed(f"{decomposed} có phở", "vi")
    assert not KeywordsIncluded(("hà nội", "bún")).is_followed(f"{decomposed} có phở", "vi")  # every keyword
    assert KeywordsIncluded(("ข้าว",)).is_followed("ฉันชอบกินข้าวผัด", "th")  # a substring inside unspaced Thai
    assert not KeywordsForbidden(("PHỞ",)).is_followed("Tôi ăn phở", "vi")
    assert not KeywordsForbidden(("bún", "phở")).is_followed("Tôi ăn phở", "vi")  # any one of them
    assert KeywordsForbidden(("bún", "cơm")).is_followed("Tôi ăn phở", "vi")


def test_start_and_end_ignore_surrounding_space_and_case():
    assert StartsWith("  jawaban:").is_followed("\n Jawaban: ya", "id")
    assert not StartsWith("ya").is_followed("Jawaban: ya", "id")
    assert EndsWith("SELESAI. ").is_followed("Jawaban: ya. Selesai.\n", "id")
    assert not EndsWith("jawaban").is_followed("Jawaban: ya", "id")


def test_json_with_or_without_a_fence():
    assert ValidJSON().is_followed(' {"a": [1, 2]} ', "en")
    assert ValidJSON().is_followed('```JSON\n{"a": 1}\n```', "en")
    assert ValidJSON().is_followed('```\n{"a": 1}\n```', "en")
    assert not ValidJSON().is_followed('Here: {"a": 1}', "en")
    assert not ValidJSON().is_followed('```json\n{"a": 1\n```', "en")


def test_bullets_are_lines_starting_with_star_dash_or_dot_but_not_bold():
    text = "* satu\n- dua\n  • tiga\n**tebal** bukan\nempat - bukan"
    assert BulletPointCount(3).is_followed(text, "id")
    assert not BulletPointCount(4).is_followed(text, "id")


def test_lowercase_and_commas_in_several_scripts():
    assert AllLowercase().is_followed("tôi thích ăn phở", "vi")
    assert not AllLowercase().is_followed("tôi thích ăn Phở", "vi")
    for comma_text, language in (
        ("我喜欢米饭，你呢", "zh"),
        ("米饭、面条", "zh"),
        ("ရန်ကုန်၊ မန္တလေး", "my"),
        ("satu, dua", "id"),
    ):
        assert not NoCommas().is_followed(comma_text, language)
    assert NoCommas().is_followed("我喜欢米饭。你呢？", "zh")


def test_reward_is_zero_with_in_language_false_for_a_wrong_language_answer():
    result = ifeval_reward("I like fried rice very much, and noodles too.", "th", [WordCount(at_least=1)])
    assert result.in_language is False and result.reward == 0.0 and result.followed == (True,)
    ok = ifeval_reward("ฉันชอบกินข้าวผัด", "th", [WordCount(at_most=4), WordCount(at_least=5)])
    assert ok.in_language is True and ok.followed == (True, False) and ok.reward == 0.5


def test_a_prompt_without_constraints_or_lowercase_in_a_caseless_script_is_refused():
    with pytest.raises(ValueError, match="'th' has no constraints"):
        check_constraints([], "th")
    with pytest.raises(ValueError, match="AllLowercase cannot apply to 'zh'"):
        check_constraints([NoCommas(), AllLowercase()], "zh")
    check_constraints([AllLowercase()], "vi")
