"""The one language table: Indonesian and Malay count as each other (a detector cannot tell them apart on short
text; SEA-IFEval accepts either), in both directions, and nothing else does."""

from recipes.core.languages import INTERCHANGEABLE, LANGUAGE_NAMES, LANGUAGES, same_language


def test_indonesian_and_malay_are_interchangeable_both_ways_and_only_they():
    assert same_language("ms", "id") and same_language("id", "ms") and same_language("th", "th")
    assert not same_language("en", "id") and not same_language("tl", "ms") and not same_language("id", "vi")
    assert {code for code, others in INTERCHANGEABLE.items() if others} == {"id", "ms"}


def test_every_curated_language_but_code_has_a_name():
    assert set(LANGUAGES) - {"code"} == set(LANGUAGE_NAMES)
