"""The math reward's edges: what it reports as the extracted answer, its time limits (in and off the main thread)
and the guard that scores a crashing response 0 instead of stopping a rollout."""

import threading
import time

import pytest

from recipes.posttrain import rewards_math
from recipes.posttrain.rewards_math import MathRewardResult, math_reward


def test_extracted_is_the_answer_text_math_verify_read():
    assert math_reward("The answer is \\boxed{\\frac{1}{2}}", "0.5") == MathRewardResult(1.0, "\\frac{1}{2}")
    assert math_reward("so x = 3, then 4", "4") == MathRewardResult(1.0, "4")
    assert math_reward("no number here", "4") == MathRewardResult(0.0, None)


def test_a_comparison_that_would_run_forever_stops_at_the_time_limit():
    # 9^(9^(9^9)) has hundreds of millions of digits: sympy would compare it with 1 for ever.
    start = time.monotonic()
    assert math_reward("\\boxed{9^{9^{9^{9}}}}", "1", timeout_seconds=1).reward == 0.0
    assert time.monotonic() - start < 4  # the 1 s limit, not math_verify's default 5 s


def test_off_the_main_thread_answers_are_still_verified():
    # SIGALRM timeouts only work in the main thread; elsewhere they are dropped rather than failing every check.
    results = []
    worker = threading.Thread(target=lambda: results.append(math_reward("\\boxed{2}", "2")))
    worker.start()
    worker.join()
    assert results == [MathRewardResult(1.0, "2")]


def test_a_response_that_crashes_the_parser_scores_zero(monkeypatch):
    real_parse = rewards_math.parse

    def parse(text, **kwargs):
        if text == "crash":
            raise RecursionError("maximum recursion depth exceeded")
        return real_parse(text, **kwargs)

    monkeypatch.setattr(rewards_math, "parse", parse)
    assert math_reward("crash", "4") == MathRewardResult(0.0, None)
    assert math_reward("4", "4") == MathRewardResult(1.0, "4")


def test_every_parse_is_bounded_by_the_time_limit_given(monkeypatch):
    # No input is known that hangs math-verify's parser itself (only its comparison, above), so the limit reaching
    # parse is checked by recording the calls: the gold's and the response's, in the main thread and off it.
    real_parse, limits = rewards_math.parse, []

    def parse(text, **kwargs):
        limits.append(kwargs.get("parsing_timeout"))
        return real_parse(text, **kwargs)

    monkeypatch.setattr(rewards_math, "parse", parse)
    assert math_reward("\\boxed{3}", "3", timeout_seconds=2).reward == 1.0
    assert limits == [2, 2]
    worker = threading.Thread(target=lambda: math_reward("\\boxed{3}", "3", timeout_seconds=2))
    worker.start()
    worker.join()
    assert limits == [2, 2, None, None]  # SIGALRM cannot fire off the main thread


def test_a_gold_answer_is_read_as_latex_only():
    # "$1,000" opens math mode and never closes it: as LaTeX it is nothing, and a plain-expression reader would
    # guess 1000 (math-verify 0.9.0's ExprExtractionConfig does). A record like that is refused, not guessed.
    with pytest.raises(rewards_math.GoldAnswerError, match="does not parse"):
        math_reward("1000", "$1,000")
    assert math_reward("\\boxed{1000}", "$1000$").reward == 1.0  # closed, it is LaTeX
