"""Win rates with bootstrap confidence intervals, and Fleiss' kappa for inter-reviewer agreement."""

from __future__ import annotations

from dataclasses import dataclass

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


def win_rate_b(
    choices_per_item: list[list[str]], resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> WinRate:
    """Win rate of b: each item scores the mean of its verdicts' points (so a doubly-reviewed item counts once), the
    rate is the mean over items, and the interval resamples items (verdicts on one item are not independent)."""
    per_item = np.array([np.mean([POINTS_B[c] for c in choices]) for choices in choices_per_item if choices])
    if per_item.size == 0:
        raise ValueError("no verdicts to compute a win rate from")
    mean = float(per_item.mean())
    if per_item.size < 2 or np.all(per_item == per_item[0]):
        low = high = mean  # every resample is the same sample's mean
    else:
        result = bootstrap(
            (per_item,),
            np.mean,
            n_resamples=resamples,
            confidence_level=confidence,
            method="percentile",
            random_state=np.random.default_rng(seed),
        )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return WinRate(mean, low, high, int(per_item.size), sum(len(c) for c in choices_per_item))


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss (1971) kappa of an items x categories matrix of rating counts. Items may have different numbers of
    raters (>= 2 each): each item's agreement P_i is taken over its own n_i raters, P-bar is their mean and the
    category shares pool every rating; with equal n_i this is Fleiss' formula exactly. None when chance agreement
    is already perfect (every rating in one category), where kappa is undefined."""
    counts = np.asarray(counts, dtype=float)
    raters = counts.sum(axis=1)
    if counts.shape[0] == 0 or np.any(raters < 2):
        raise ValueError("fleiss_kappa needs at least one item and >= 2 ratings on every item")
    p_category = counts.sum(axis=0) / counts.sum()
    p_item = ((counts**2).sum(axis=1) - raters) / (raters * (raters - 1))
    p_bar, p_chance = p_item.mean(), float((p_category**2).sum())
    if p_chance == 1.0:
        return None
    return float((p_bar - p_chance) / (1 - p_chance))


def verdict_agreement(choices_per_item: list[list[str]], categories: tuple[str, ...]) -> tuple[float | None, int]:
    """Fleiss' kappa over every verdict of the items judged at least twice (all their raters), and how many items
    that is."""
    judged = [choices for choices in choices_per_item if len(choices) >= 2]
    if not judged:
        return None, 0
    counts = np.array([[choices.count(c) for c in categories] for choices in judged])
    return fleiss_kappa(counts), len(judged)
