"""IFEval-style verifiable constraints and the instruction-following reward for online RL.

Each constraint is a small frozen dataclass with `is_followed(response, language)`; the checks follow IFEval's
(Zhou et al. 2023, google-research `instruction_following_eval`) where they have one, made script-aware through
`recipes.posttrain.text_units`. The reward is the fraction of constraints followed (IFEval's instruction-level
score) or, with `all_or_nothing`, 1.0 only when all are (its prompt-level score), and it is ZERO whenever the
response is not in the requested language: SEA-IFEval's language rule (`recipes.core.language_id.response_in_language`),
so the policy cannot earn reward by answering a Thai prompt in English.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from recipes.core.language_id import response_in_language
from recipes.posttrain.text_units import count_sentences, count_words

# Scripts without upper/lower case: an "all lowercase" instruction is meaningless there.
CASELESS_LANGUAGES = frozenset({"th", "my", "km", "lo", "ta", "zh", "ja", "ko", "hi", "ar"})
# ASCII comma, full-width and ideographic commas (Chinese), Burmese comma-like section mark.
COMMAS = (",", "，", "、", "၊")


class Constraint(Protocol):
    name: ClassVar[str]

    def is_followed(self, response: str, language: str) -> bool: ...


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def _check_range(name: str, at_least: int | None, at_most: int | None) -> None:
    if at_least is None and at_most is None:
        raise ValueError(f"{name}: set at_least and/or at_most")
    if at_least is not None and at_most is not None and at_least > at_most:
        raise ValueError(f"{name}: at_least={at_least} exceeds at_most={at_most}")


def _in_range(value: int, at_least: int | None, at_most: int | None) -> bool:
    return (at_least is None or value >= at_least) and (at_most is None or value <= at_most)


@dataclass(frozen=True)
class WordCount:
    name: ClassVar[str] = "length_constraints:number_words"
    at_least: int | None = None
    at_most: int | None = None

    def __post_init__(self) -> None:
        _check_range("WordCount", self.at_least, self.at_most)

    def is_followed(self, response: str, language: str) -> bool:
        return _in_range(count_words(response, language), self.at_least, self.at_most)


@dataclass(frozen=True)
class SentenceCount:
    name: ClassVar[str] = "length_constraints:number_sentences"
    at_least: int | None = None
    at_most: int | None = None

    def __post_init__(self) -> None:
        _check_range("SentenceCount", self.at_least, self.at_most)

    def is_followed(self, response: str, language: str) -> bool:
        return _in_range(count_sentences(response, language), self.at_least, self.at_most)


_PARAGRAPH_SEPARATORS = {"***": re.compile(r"\s?\*\*\*\s?"), "blank_line": re.compile(r"\n\s*\n")}


@dataclass(frozen=True)
class ParagraphCount:
    """Exactly `count` paragraphs, separated by the markdown divider *** (IFEval's number_paragraphs) or by blank
    lines (IFEval's nth_paragraph rule). An empty paragraph between two others breaks the constraint."""

    name: ClassVar[str] = "length_constraints:number_paragraphs"
    count: int
    separator: str = "***"

    def __post_init__(self) -> None:
        if self.separator not in _PARAGRAPH_SEPARATORS:
            raise ValueError(
                f"ParagraphCount.separator={self.separator!r}; choose one of {list(_PARAGRAPH_SEPARATORS)}"
            )

    def is_followed(self, response: str, language: str) -> bool:
        parts = _PARAGRAPH_SEPARATORS[self.separator].split(response.strip())
        if any(not part.strip() for part in parts):
            return False
        return len(parts) == self.count


@dataclass(frozen=True)
class KeywordsIncluded:
    """Every keyword appears (case-insensitive substring, as IFEval; Thai and other unspaced scripts need it)."""

    name: ClassVar[str] = "keywords:existence"
    keywords: tuple[str, ...]

    def is_followed(self, response: str, language: str) -> bool:
        text = _fold(response)
        return all(_fold(keyword) in text for keyword in self.keywords)


@dataclass(frozen=True)
class KeywordsForbidden:
    name: ClassVar[str] = "keywords:forbidden_words"
    keywords: tuple[str, ...]

    def is_followed(self, response: str, language: str) -> bool:
        text = _fold(response)
        return not any(_fold(keyword) in text for keyword in self.keywords)


@dataclass(frozen=True)
class StartsWith:
    name: ClassVar[str] = "startend:start_checker"
    phrase: str

    def is_followed(self, response: str, language: str) -> bool:
        return _fold(response.strip()).startswith(_fold(self.phrase.strip()))


@dataclass(frozen=True)
class EndsWith:
    name: ClassVar[str] = "startend:end_checker"
    phrase: str

    def is_followed(self, response: str, language: str) -> bool:
        return _fold(response.strip()).endswith(_fold(self.phrase.strip()))


_JSON_FENCE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class ValidJSON:
    """The whole response is JSON; a ```json fence around it is allowed, as IFEval allows."""

    name: ClassVar[str] = "detectable_format:json_format"

    def is_followed(self, response: str, language: str) -> bool:
        text = response.strip()
        fenced = _JSON_FENCE.match(text)
        try:
            json.loads(fenced.group(1) if fenced else text)
        except ValueError:
            return False
        return True


_BULLET = re.compile(r"^\s*(?:\*[^*]|[-•]).*$", re.MULTILINE)


@dataclass(frozen=True)
class BulletPointCount:
    """Exactly `count` markdown bullets (lines starting with *, - or •)."""

    name: ClassVar[str] = "detectable_format:number_bullet_lists"
    count: int

    def is_followed(self, response: str, language: str) -> bool:
        return len(_BULLET.findall(response)) == self.count


@dataclass(frozen=True)
class AllLowercase:
    name: ClassVar[str] = "change_case:english_lowercase"

    def is_followed(self, response: str, language: str) -> bool:
        return response == response.lower()


@dataclass(frozen=True)
class NoCommas:
    name: ClassVar[str] = "punctuation:no_comma"

    def is_followed(self, response: str, language: str) -> bool:
        return not any(comma in response for comma in COMMAS)


@dataclass(frozen=True)
class IFEvalReward:
    reward: float
    in_language: bool
    followed: tuple[bool, ...]


def check_constraints(constraints: Sequence[Constraint], language: str) -> None:
    """Refuse a prompt whose constraints cannot apply to its language (call it when building the RL data)."""
    if not constraints:
        raise ValueError(f"ifeval prompt in {language!r} has no constraints; give it at least one")
    if language in CASELESS_LANGUAGES and any(isinstance(c, AllLowercase) for c in constraints):
        raise ValueError(f"AllLowercase cannot apply to {language!r}: its script has no letter case; drop it")


def ifeval_reward(
    response: str, language: str, constraints: Sequence[Constraint], all_or_nothing: bool = False
) -> IFEvalReward:
    """Reward in [0, 1] for one response to a prompt in `language` (ISO 639-1) carrying `constraints`."""
    check_constraints(constraints, language)
    followed = tuple(constraint.is_followed(response, language) for constraint in constraints)
    in_language = bool(response.strip()) and response_in_language(response, language)
    if not in_language:
        return IFEvalReward(0.0, False, followed)
    score = float(all(followed)) if all_or_nothing else sum(followed) / len(followed)
    return IFEvalReward(score, True, followed)
