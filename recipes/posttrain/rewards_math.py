"""Binary math reward with HF `math_verify`: 1.0 when the response's final answer equals the gold answer
mathematically (1/2 = 0.5 = \\frac{1}{2}, (x+1)^2 = x^2+2x+1), else 0.0; never raises on a response.

The gold answer is wrapped in \\boxed{} (as NeMo-RL's math environment does) so bare LaTeX such as
``\\frac{1}{2}`` parses; the response is read by math_verify's LaTeX then plain-expression extractors, which
prefer a \\boxed{} answer and otherwise take the last expression. math_verify's timeouts use SIGALRM, which only
works in the main thread (elsewhere every check would silently fail), so off the main thread they are disabled.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

_GOLD_EXTRACTION = (LatexExtractionConfig(),)
_RESPONSE_EXTRACTION = (LatexExtractionConfig(), ExprExtractionConfig())


@dataclass(frozen=True)
class MathRewardResult:
    reward: float
    extracted: str | None  # the response's answer as math_verify read it; None when nothing parsed


def _timeout_seconds(requested: int) -> int | None:
    return requested if threading.current_thread() is threading.main_thread() else None


def _boxed(gold: str) -> str:
    gold = gold.strip()
    if "\\boxed" in gold or gold.startswith("$"):
        return gold
    return f"\\boxed{{{gold}}}"


class GoldAnswerError(ValueError):
    """A dataset record whose gold answer math_verify cannot read: fix the record, not the reward."""


def math_reward(response: str, gold_answer: str, timeout_seconds: int = 5) -> MathRewardResult:
    """Score one response against its gold answer; raises GoldAnswerError only for an unreadable gold answer."""
    timeout = _timeout_seconds(timeout_seconds)
    gold = parse(_boxed(gold_answer), extraction_config=_GOLD_EXTRACTION, parsing_timeout=timeout)
    if not gold:
        raise GoldAnswerError(f"math_reward: gold answer {gold_answer!r} does not parse; fix the dataset record")
    try:
        answer = parse(response, extraction_config=_RESPONSE_EXTRACTION, parsing_timeout=timeout)
        correct = bool(answer) and verify(gold, answer, timeout_seconds=timeout)
    except Exception:  # noqa: BLE001 - a malformed response must score 0, never stop a rollout
        return MathRewardResult(0.0, None)
    return MathRewardResult(1.0 if correct else 0.0, str(answer[-1]) if answer else None)
