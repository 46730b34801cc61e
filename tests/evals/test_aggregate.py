"""Aggregation task -> competency -> language -> SEA average, checked against hand-computed numbers."""

import pytest

from evals.aggregate import TaskScore, aggregate, bootstrap_ci


def _scores():
    rows = []
    for seed, sentiment_id, vi in ((0, 60, 30), (1, 80, 50)):
        rows += [
            TaskScore("sentiment", "nlu", "id", sentiment_id, seed),
            TaskScore("qa", "nlu", "id", 40, seed),
            TaskScore("nli", "nlr", "id", 70, seed),
            TaskScore("sentiment", "nlu", "vi", vi, seed),
            TaskScore("sentiment", "nlu", "en", 90, seed),
        ]
    return rows


def test_levels_hand_computed():
    result = aggregate(_scores())
    # seed 0: id nlu=(60+40)/2=50, nlr=70 -> id=60; vi=30; SEA=(60+30)/2=45 (English is not a SEA language)
    # seed 1: id nlu=(80+40)/2=60, nlr=70 -> id=65; vi=50; SEA=57.5
    assert result["n_seeds"] == 2
    assert result["competencies"]["id"]["nlu"]["mean"] == pytest.approx(55.0)
    assert result["languages"]["id"]["mean"] == pytest.approx(62.5)
    assert result["languages"]["vi"]["mean"] == pytest.approx(40.0)
    assert result["languages"]["en"]["mean"] == pytest.approx(90.0)
    sea = result["sea_average"]
    assert sea["mean"] == pytest.approx(51.25)
    assert 45.0 <= sea["ci_low"] < sea["mean"] < sea["ci_high"] <= 57.5
    assert result["tasks"]["sentiment"]["id"]["mean"] == pytest.approx(70.0)


def test_bootstrap_is_reproducible_and_degenerate_for_one_seed():
    values = [10.0, 20.0, 35.0, 12.0]
    assert bootstrap_ci(values, rng_seed=3) == bootstrap_ci(values, rng_seed=3)
    one = aggregate([TaskScore("qa", "nlu", "id", 42.0)])
    assert one["sea_average"] == {"mean": 42.0, "ci_low": 42.0, "ci_high": 42.0, "n": 1}
    with pytest.raises(ValueError, match="no scores"):
        aggregate([])
