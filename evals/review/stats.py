"""Win rates with bootstrap confidence intervals, and Fleiss' kappa for inter-reviewer agreement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.stats import bootstrap

# Points for version b per verdict: a tie and "both bad" are half a win for each side.
POINTS_B = {"a": 0.0, "b": 1.0, "tie": 0.5, "both_bad": 0.5}


@dataclass(frozen=True)
class WinRate:
    """Win rate of one version over the other, with a percentile bootstrap interval over items."""

    win_rate: float
    ci_low: float
    ci_high: float
    items: int
    verdicts: int

    def flipped(self) -> WinRate:
        """The same result seen from the other version."""
        return WinRate(1 - self.win_rate, 1 - self.ci_high, 1 - self.ci_low, self.items, self.verdicts)


def win_rate_b(choices_per_item: list[list[str]], resamples: int = 2000, seed: int = 0,
               confidence: float = 0.95) -> WinRate:
    """Win rate of b: each item scores the mean of its verdicts' points (so a doubly-reviewed item counts once), the
    rate is the mean over items, and the interval resamples items (verdicts on one item are not independent)."""
    per_item = np.array([np.mean([POINTS_B[c] for c in choices]) for choices in choices_per_item if choices])
    if per_item.size == 0:
        raise ValueError("no verdicts to compute a win rate from")
    mean = float(per_item.mean())
    if per_item.size < 2 or np.all(per_item == per_item[0]):
        low = high = mean  # every resample is the same sample's mean
    else:
        result = bootstrap((per_item,), np.mean, n_resamples=resamples, confidence_level=confidence,
                           method="percentile", random_state=np.random.default_rng(seed))
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return WinRate(mean, low, high, int(per_item.size), sum(len(c) for c in choices_per_item))


def fleiss_kappa(counts: np.ndarray) -> Optional[float]:
    """Fleiss (1971) kappa of an items x categories matrix of rating counts, the same number of raters per item.
    None when chance agreement is already perfect (every rating in one category), where kappa is undefined."""
    counts = np.asarray(counts, dtype=float)
    raters = counts.sum(axis=1)
    if counts.shape[0] == 0 or np.any(raters != raters[0]) or raters[0] < 2:
        raise ValueError("fleiss_kappa needs at least one item and the same number (>= 2) of ratings per item")
    n = raters[0]
    p_category = counts.sum(axis=0) / counts.sum()
    p_item = ((counts**2).sum(axis=1) - n) / (n * (n - 1))
    p_bar, p_chance = p_item.mean(), float((p_category**2).sum())
    if p_chance == 1.0:
        return None
    return float((p_bar - p_chance) / (1 - p_chance))


def verdict_agreement(choices_per_item: list[list[str]], categories: tuple[str, ...]) -> tuple[Optional[float], int]:
    """Fleiss' kappa over the items judged at least twice (their first two verdicts), and how many items that is."""
    doubly = [choices[:2] for choices in choices_per_item if len(choices) >= 2]
    if not doubly:
        return None, 0
    counts = np.array([[pair.count(c) for c in categories] for pair in doubly])
    return fleiss_kappa(counts), len(doubly)
