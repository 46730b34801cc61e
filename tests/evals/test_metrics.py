"""Metrics against hand-computed values and SEA-HELM's script handling."""

import pytest
from rouge_score import rouge_scorer

from evals.metrics import (
    balanced_accuracy,
    chrf_plus_plus,
    language_normalised_if_accuracy,
    normalised_score,
    rouge_l,
)
from recipes.core.word_tokens import SeaRougeTokenizer


def test_rouge_l_english_hand_computed():
    # LCS("the cat sat on the mat", "the cat is on the mat") = "the cat on the mat" = 5 of 6 tokens each side.
    assert rouge_l(["The cat sat on the mat."], ["the cat is on the mat"]) == pytest.approx(100 * 5 / 6)


def test_rouge_l_chinese_scores_per_character():
    # 4 characters each, 3 in common in order -> P = R = F = 0.75
    assert rouge_l(["我喜欢猫"], ["我喜欢狗"], language="zh") == pytest.approx(75.0)


def test_burmese_is_split_into_syllables():
    assert SeaRougeTokenizer("my").tokenize("မြန်မာ") == ["မြန်", "မာ"]
    # The stock rouge-score tokenizer drops non-ASCII text entirely, so it cannot score Burmese at all ...
    stock = rouge_scorer.RougeScorer(["rougeL"]).score("မြန်မာ နိုင်ငံ", "မြန်မာ စာ")["rougeL"].fmeasure
    assert stock == 0.0
    # ... while syllables give partial credit: {မြန်, မာ} shared out of 4 and 3 syllables.
    assert rouge_l(["မြန်မာ စာ"], ["မြန်မာ နိုင်ငံ"], language="my") == pytest.approx(
        100 * 2 * (2 / 3 * 2 / 4) / (2 / 3 + 2 / 4)
    )


def test_thai_is_word_segmented():
    # newmm: prediction แมว|กิน|ปลา, reference แมว|กินข้าว (a dictionary compound): LCS 1 -> P=1/3, R=1/2, F=0.4
    assert rouge_l(["แมวกินปลา"], ["แมวกินข้าว"], language="th") == pytest.approx(40.0)
    # the stock tokenizer sees no tokens at all in Thai
    assert rouge_scorer.RougeScorer(["rougeL"]).score("แมวกินข้าว", "แมวกินปลา")["rougeL"].fmeasure == 0.0


def test_chrf_plus_plus_rewards_word_order():
    ref = ["saya suka makan nasi goreng"]
    assert chrf_plus_plus(ref, ref) == pytest.approx(100.0)
    shuffled = chrf_plus_plus(["goreng nasi makan suka saya"], ref)
    assert 0.0 < shuffled < chrf_plus_plus(["saya suka makan nasi goreng!"], ref)


def test_chrf_plus_plus_by_hand():
    # chrF++ (Popovic 2017): character 1..6-grams with whitespace removed and word 1..2-grams; precision and recall
    # averaged over the orders present on both sides (sacrebleu 2.6.0 metrics/chrf.py, _compute_f_score), then
    # F-beta with beta 2. "a c b" vs "a b c": chars "acb"/"abc" match on unigrams (P = R = 1) and not on the bigrams
    # or the trigram (0); words match on unigrams (1), not on bigrams (0). Five orders: P = R = 2/5, F = 2/5.
    assert chrf_plus_plus(["a c b"], ["a b c"]) == pytest.approx(40.0)
    # "a b" vs "a b c": char 1-grams P 1, R 2/3; 2-grams P 1, R 1/2; the same for words; no 3-gram in "ab".
    # P = 1, R = 7/12, F = 5 x 7/12 / (4 + 7/12) = 7/11.
    assert chrf_plus_plus(["a b"], ["a b c"]) == pytest.approx(100 * 7 / 11)


def test_balanced_accuracy_hand_computed():
    # recall(A) = 2/3, recall(B) = 0 (None is a miss) -> 1/3; plain accuracy would be 1/2
    assert balanced_accuracy(["A", "A", "A", "B"], ["A", "A", "B", None]) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="pair up"):
        balanced_accuracy(["A"], ["A", "B"])


def test_normalised_score():
    assert normalised_score(0.625, baseline=0.25) == pytest.approx(50.0)
    assert normalised_score(0.2, baseline=0.25) == 0.0
    assert normalised_score(0.4, baseline=0.0) == pytest.approx(40.0)
    with pytest.raises(ValueError, match="maximum"):
        normalised_score(0.5, baseline=1.0)


def test_language_normalised_if_accuracy_fails_wrong_language():
    responses = [
        "Saya suka makan nasi lemak setiap pagi kerana ia sedap dan murah.",  # Malay counts for Indonesian
        "I like to eat fried rice every morning with my family.",  # followed, but English: fail
        "Saya suka makan nasi goreng di pagi hari bersama keluarga saya.",
        "Saya suka makan nasi goreng di pagi hari bersama keluarga saya.",  # right language, not followed
    ]
    assert language_normalised_if_accuracy([True, True, True, False], responses, "id") == pytest.approx(0.5)
    assert language_normalised_if_accuracy([True, True, True, False], responses, "en") == pytest.approx(0.25)
