"""SEA-HELM's ROUGE tokenisation at its edges: the ASCII punctuation ranges and Unicode class P, the CJK ideograph
blocks (Unicode 14, Python 3.11's unicodedata), control characters, Burmese syllables (Ding et al. 2019) and Thai
words. Each expectation is written from the Unicode tables and the rules in recipes/core/word_tokens.py's docstrings."""

import unicodedata

import pytest

from evals.metrics import rouge_l
from recipes.core.language_id import response_in_language
from recipes.core.word_tokens import SeaRougeTokenizer

# (character, category it must have, how "a<c>b" tokenises): punctuation splits and is dropped, a CJK ideograph is
# its own token, anything else stays inside the word.
SPLIT, OWN, INSIDE = "split", "own", "inside"
EDGES = [
    ("+", "Sm", SPLIT),
    ("$", "Sc", SPLIT),  # symbols inside ASCII 33-47: punctuation by range, not by class
    ("=", "Sm", SPLIT),
    ("^", "Sk", SPLIT),
    ("`", "Sk", SPLIT),  # 58-64 and 91-96 likewise
    ("|", "Sm", SPLIT),
    ("~", "Sm", SPLIT),  # 123-126
    ("0", "Nd", INSIDE),
    ("9", "Nd", INSIDE),
    ("A", "Lu", INSIDE),
    ("Z", "Lu", INSIDE),  # just outside the ranges
    ("\u00ab", "Pi", SPLIT),
    ("\u3002", "Po", SPLIT),  # class P outside ASCII
    ("\u20ac", "Sc", INSIDE),  # a symbol outside ASCII is not punctuation
    ("\u3400", "Lo", OWN),
    ("\u4dbf", "Lo", OWN),
    ("\u4dc0", "So", INSIDE),  # Extension A and the block after it
    ("\u4e00", "Lo", OWN),
    ("\u9fff", "Lo", OWN),
    ("\ua000", "Lo", INSIDE),  # Unified Ideographs, then Yi
    ("\U00020000", "Lo", OWN),
    ("\U0002a6df", "Lo", OWN),  # Extension B, both ends
    ("\uf900", "Lo", OWN),
    ("\ufb00", "Ll", INSIDE),  # Compatibility Ideographs, then the Latin ligatures
    ("\U0002f800", "Lo", OWN),  # Compatibility Supplement
]


@pytest.mark.parametrize("char, category, kind", EDGES, ids=[f"U+{ord(c):04X}" for c, _, _ in EDGES])
def test_character_classes_at_the_range_edges(char, category, kind):
    assert unicodedata.category(char) == category
    expected = {SPLIT: ["a", "b"], OWN: ["a", char, "b"], INSIDE: [f"a{char.lower()}b"]}[kind]
    assert SeaRougeTokenizer().tokenize(f"a{char}b") == expected


def test_lower_cased_and_control_characters_dropped():
    # U+200B ZERO WIDTH SPACE is class Cf: dropped, so the word is whole; "!" then "d" starts a new token.
    assert SeaRougeTokenizer().tokenize("ABC de\u200bf!g") == ["abc", "def", "g"]


@pytest.mark.parametrize(
    "text, syllables",
    [
        ("\u1019\u103c\u1014\u103a\u1019\u102c", ["\u1019\u103c\u1014\u103a", "\u1019\u102c"]),  # Myanmar: myan + ma
        # a short asat unit first in the text has no previous syllable to join
        ("\u1014\u103a\u1019\u102c", ["\u1014\u103a", "\u1019\u102c"]),
        # an asat unit of 4 characters (kaw: ka + e + aa + asat) is a syllable of its own
        ("\u1019\u1000\u1031\u102c\u103a", ["\u1019", "\u1000\u1031\u102c\u103a"]),
        # a zero-width non-joiner is removed before the signs join their consonant
        ("\u1000\u200c\u102c", ["\u1000\u102c"]),
    ],
)
def test_burmese_syllables(text, syllables):
    assert SeaRougeTokenizer("my").tokenize(text) == syllables


def test_burmese_segmentation_loses_no_character():
    # Two short asat units in a row (each would join the syllable before it): however they group, every
    # character is kept.
    text = "\u1019\u1014\u103a\u1014\u103a\u1000\u102c"
    assert "".join(SeaRougeTokenizer("my").tokenize(text)) == text


def test_thai_is_cut_into_words():
    assert SeaRougeTokenizer("th").tokenize("สวัสดีครับ") == ["สวัสดี", "ครับ"]


def test_rouge_l_is_the_mean_over_pairs():
    # One identical pair (F1 1) and one with no common token (F1 0): the mean is 50.
    assert rouge_l(["a b", "c d"], ["a b", "x y"]) == pytest.approx(50.0)
    assert rouge_l(["a b c"], ["a c"]) == pytest.approx(100 * 2 * (2 / 3 * 1) / (2 / 3 + 1))  # LCS 2: P 2/3, R 1


def test_malay_counts_as_indonesian_and_the_reverse():
    malay = "Kerajaan Malaysia telah mengumumkan bahawa sekolah akan dibuka semula minggu hadapan."
    assert response_in_language(malay, "ms") and response_in_language(malay, "id")
    assert not response_in_language(malay, "th")


def test_a_short_reply_over_two_lines_is_still_read_as_malay():
    # The detector reads one line: the lines are joined with a space, and a two-word greeting stays Malay.
    assert response_in_language("Apa khabar?\nBaik.", "ms")
    assert response_in_language("Apa khabar", "ms")
