"""The percentile-bootstrap interval of a mean, against the normal approximation worked by hand, and what
`aggregate` passes it (seed, confidence) and returns around it."""

import math

import pytest

from evals.aggregate import TaskScore, aggregate, bootstrap_ci

# 100 values 0..99: population sd sqrt((100^2 - 1) / 12) = 28.866; the mean of 100 draws has sd 2.8866, and by the
# central limit theorem its 5th and 95th percentiles are 49.5 -/+ 1.6449 x 2.8866 = 44.75 / 54.25.
VALUES = list(range(100))
SD_OF_MEAN = math.sqrt((100**2 - 1) / 12) / 10


@pytest.mark.parametrize("confidence, z", [(0.90, 1.6449), (0.60, 0.8416)])
def test_interval_is_the_central_quantiles_of_resampled_means(confidence, z):
    # With 4000 resamples the quantiles' Monte Carlo error is about 0.1; the tolerance 0.3 is far below the gap to
    # alpha doubled or a third (for 90%: 47.07 or 44.21).
    ci = bootstrap_ci(VALUES, n_resamples=4000, confidence=confidence, rng_seed=3)
    assert ci["mean"] == pytest.approx(49.5) and ci["n"] == 100
    assert ci["ci_low"] == pytest.approx(49.5 - z * SD_OF_MEAN, abs=0.3)
    assert ci["ci_high"] == pytest.approx(49.5 + z * SD_OF_MEAN, abs=0.3)
    assert set(ci) == {"mean", "ci_low", "ci_high", "n"}


def test_the_seed_makes_it_reproducible_and_aggregate_passes_it_on():
    assert bootstrap_ci(VALUES, rng_seed=5) == bootstrap_ci(VALUES, rng_seed=5)
    assert bootstrap_ci(VALUES, rng_seed=5) != bootstrap_ci(VALUES, rng_seed=6)
    # Five seeds of one Indonesian task: aggregate's interval is bootstrap_ci's over the five per-seed scores.
    per_seed = [40.0, 50.0, 60.0, 75.0, 90.0]
    scores = [TaskScore("qa", "nlu", "id", s, seed=i) for i, s in enumerate(per_seed)]
    for seed in (0, 7):
        first, again = aggregate(scores, rng_seed=seed), aggregate(scores, rng_seed=seed)
        assert first == again
        assert first["languages"]["id"] == bootstrap_ci(per_seed, rng_seed=seed)
        assert first["sea_average"] == bootstrap_ci(per_seed, rng_seed=seed)
    assert aggregate(scores, rng_seed=0)["sea_average"] != aggregate(scores, rng_seed=7)["sea_average"]
    # confidence reaches the interval: 50% is narrower than 95%.
    narrow = aggregate(scores, confidence=0.5)["languages"]["id"]
    wide = aggregate(scores)["languages"]["id"]
    assert wide["ci_low"] < narrow["ci_low"] <= narrow["ci_high"] < wide["ci_high"]
    assert set(first) == {"tasks", "competencies", "n_seeds", "languages", "sea_average"}
    assert type(first["tasks"]) is dict and type(first["competencies"]) is dict


def test_no_sea_average_without_a_sea_language_in_every_seed():
    english_only = [TaskScore("qa", "nlu", "en", 60.0, seed=0), TaskScore("qa", "nlu", "en", 70.0, seed=1)]
    assert aggregate(english_only)["sea_average"] is None
    # Thai in seed 0 only: the SEA average would cover one seed of two, so there is none.
    partial = english_only + [TaskScore("qa", "nlu", "th", 50.0, seed=0)]
    assert aggregate(partial)["sea_average"] is None
