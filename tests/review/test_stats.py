"""Win rates, their bootstrap intervals and Fleiss' kappa against hand-worked values and a second implementation."""

from __future__ import annotations

import numpy as np
import pytest

from recipes.review.stats import fleiss_kappa, verdict_agreement, win_rate_b

# Fleiss' kappa's worked example (Wikipedia, "Fleiss' kappa"): 10 subjects, 14 raters, 5 categories; kappa 0.210.
WIKIPEDIA_COUNTS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_matches_the_worked_example():
    assert fleiss_kappa(np.array(WIKIPEDIA_COUNTS)) == pytest.approx(0.210, abs=5e-4)


def test_kappa_on_doubly_reviewed_items_by_hand():
    # Item 1: both say b; item 2: tie vs a; item 3 has one verdict and is left out.
    # P_i = 1, 0 -> mean 0.5; p = (a 1/4, b 2/4, tie 1/4) -> P_e = 6/16; kappa = (0.5 - 0.375) / 0.625 = 0.2.
    kappa, items = verdict_agreement([["b", "b"], ["tie", "a"], ["a"]], ("a", "b", "tie", "both_bad"))
    assert (kappa, items) == (pytest.approx(0.2), 2)
    assert verdict_agreement([["a", "a"], ["a", "a"]], ("a", "b")) == (None, 2)  # chance agreement already 1


def test_kappa_takes_every_rater_of_items_with_unequal_rater_counts():
    # Items: (b, b, a), (tie, tie), (a, a, a, b); a fourth with one verdict is left out (no pair to agree).
    # P_i = (1 + 4 - 3) / (3 * 2) = 1/3, (4 - 2) / 2 = 1, (9 + 1 - 4) / (4 * 3) = 1/2 -> P-bar = 11/18.
    # Shares over all 9 ratings: a 4/9, b 3/9, tie 2/9 -> P_e = 29/81; kappa = (11/18 - 29/81) / (52/81) = 41/104.
    kappa, items = verdict_agreement(
        [["b", "b", "a"], ["tie", "tie"], ["a", "a", "a", "b"], ["a"]], ("a", "b", "tie", "both_bad")
    )
    assert (kappa, items) == (pytest.approx(41 / 104), 3)
    with pytest.raises(ValueError, match=">= 2 ratings on every item"):
        fleiss_kappa(np.array([[2, 0], [1, 0]]))


def test_win_rate_counts_ties_and_both_bad_as_half_and_items_once():
    # Per item: (1 + 1)/2 = 1, (0.5 + 0)/2 = 0.25, 0.5 (both bad) -> mean 1.75 / 3.
    rate = win_rate_b([["b", "b"], ["tie", "a"], ["both_bad"]])
    assert rate.win_rate == pytest.approx(1.75 / 3)
    assert (rate.items, rate.verdicts) == (3, 5)
    flipped = rate.flipped()
    assert (flipped.win_rate, flipped.ci_low, flipped.ci_high) == pytest.approx(
        (1 - rate.win_rate, 1 - rate.ci_high, 1 - rate.ci_low)
    )


def test_bootstrap_interval_agrees_with_a_plain_resampling_loop():
    rng = np.random.default_rng(7)
    items = [[str(c)] for c in rng.choice(["a", "b", "tie"], size=60, p=[0.3, 0.5, 0.2])]
    rate = win_rate_b(items, resamples=4000, seed=1)
    points = np.array([{"a": 0.0, "b": 1.0, "tie": 0.5}[c[0]] for c in items])
    loop = np.random.default_rng(2)
    means = [points[loop.integers(0, len(points), len(points))].mean() for _ in range(4000)]
    assert rate.ci_low == pytest.approx(np.percentile(means, 2.5), abs=0.02)
    assert rate.ci_high == pytest.approx(np.percentile(means, 97.5), abs=0.02)
    assert rate.ci_low < rate.win_rate < rate.ci_high


def test_two_items_give_the_extremes_as_interval():
    # Resamples of two items with scores 1 and 0.25 have means 1, 0.625 or 0.25, each extreme with chance 1/4,
    # so the 2.5th and 97.5th percentiles are the extremes.
    rate = win_rate_b([["b", "b"], ["tie", "a"]])
    assert (rate.win_rate, rate.ci_low, rate.ci_high) == pytest.approx((0.625, 0.25, 1.0))
